/*
 * redis.h - the connection to Redis: address, password, database,
 * reconnects, Sentinel failovers and outages.  The registry (registry.h)
 * and the job queue (queue.h) are built on it.
 *
 * Each thread has its own connection (hiredis contexts are not
 * thread-safe), made lazily and remade after a failure, at most once a
 * second.  While Redis is down or slow every command fails fast (after
 * -redis_timeout_ms at worst) and returns NULL; the outage is logged when
 * it starts, every 30 s while it lasts, and when it ends, once for the
 * whole process.
 *
 * With -redis sentinel://HOST:PORT[,...]/NAME the master is found by
 * asking the sentinels (sentinel.h), and each new connection checks with
 * ROLE that it reached the master.  A failover is followed without a
 * restart: a connection that is lost (Sentinel closes the clients of the
 * server it demotes, and a dead master closes them too) or answered
 * READONLY makes the next connect ask the sentinels again; once one
 * thread has found the new master, every other thread's connection to
 * the old one is closed before its next command; and one thread asks the
 * sentinels every second while all is well, which is how a failover is
 * seen when the old master lives on (SENTINEL FAILOVER, a partition):
 * Sentinel demotes it, and closes its clients, only seconds later.
 * There is no subscription to +switch-master: a dead master shows at
 * once in its connections, a live one within that second.  While no
 * master is known, it is an outage like any other.
 * Thread-safety: struct redis is shared (internally locked); struct
 * redis_conn is one per thread.
 */
#ifndef IMGSRV_REDIS_H
#define IMGSRV_REDIS_H

#include <stddef.h>

#include <hiredis.h>

#include "conf.h"
#include "err.h"

struct redis;
struct redis_conn;

/* The shared state for c (which must outlive it); c->redis empty: Redis
 * is off and every command answers NULL without logging.  Returns NULL
 * when out of memory, or with ERR_BAD_REQUEST for a sentinel:// address
 * that does not parse. */
struct redis *redis_new(const struct conf *c, struct err *e);
void redis_free(struct redis *r); /* NULL is a no-op */

/* 1 if -redis names a server (it may still be down). */
int redis_enabled(const struct redis *r);

/* "off" (no -redis), "up" or "down" (found down, not back since). */
const char *redis_state(struct redis *r);

/* With Sentinel, writes "HOST:PORT" of the master last found into buf
 * and returns 0; -1 without Sentinel or before one was found. */
int redis_master(struct redis *r, char *buf, size_t size);

/* The configuration r was made with. */
const struct conf *redis_conf(const struct redis *r);

/* A connection for one thread (connects lazily); NULL if out of memory.
 * redis_conn_free(NULL) is a no-op. */
struct redis_conn *redis_conn_new(struct redis *r);
void redis_conn_free(struct redis_conn *c);

/* The shared state c belongs to. */
struct redis *redis_of(const struct redis_conn *c);

/*
 * Runs a command (hiredis format) on c.  Returns the reply, which the
 * caller frees with redis_reply_free(), or NULL when Redis is off, down or
 * answered an error (logged).  A command is sent again once only when it
 * surely did not run: the connection was found closed (Redis restarted,
 * or Sentinel closed it in a failover), or, with Sentinel, a replica
 * refused it (READONLY).  After a timeout it may have run, and a SET NX or
 * an LMOVE must not run twice.
 */
redisReply *redis_command(struct redis_conn *c, const char *fmt, ...);

/*
 * Durable writes: redis_wait_begin() opens a span on c, and
 * redis_wait() waits (Redis WAIT, at most half of -redis_timeout_ms)
 * until replicas replicas hold every command sent on c since.  Returns how
 * many replicas acknowledged them (replicas or more: confirmed), or -1
 * when they may be lost: c's connection was remade within the span (a
 * failover, a restart), or Redis is down.  The span ends either way.
 */
void redis_wait_begin(struct redis_conn *c);
int redis_wait(struct redis_conn *c, int replicas);

/* Frees a reply; NULL is a no-op. */
void redis_reply_free(redisReply *rep);

/* Writes the key "{prefix}{kind}:{name}", or "{prefix}{kind}" when name
 * is NULL, into buf. */
void redis_key(const struct redis *r, char *buf, size_t size,
	       const char *kind, const char *name);

/* A random hex token of 32 characters (and the NUL) into out. */
void redis_token(char out[33]);

#endif
