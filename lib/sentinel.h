/*
 * sentinel.h - Redis Sentinel: which server is the master now.
 *
 * -redis sentinel://HOST:PORT[,HOST:PORT...]/NAME names the sentinels that
 * watch the master called NAME.  sentinel_ask() asks them in turn, as
 * Redis's guide for Sentinel clients says: the first one that answers
 * SENTINEL get-master-addr-by-name gives the address, and is asked first
 * the next time.  sentinel_role_master() then asks the server itself
 * (ROLE), since a sentinel's answer may be a failover behind.
 * Sentinels are asked without a password (-redis_password and -redis_db
 * are the master's).  This module keeps no state of its own: redis.c
 * holds the master found and decides when to ask again.
 * Thread-safety: struct sentinel is plain data; sentinel_ask() changes
 * its order, so one thread at a time asks with a given struct.
 */
#ifndef IMGSRV_SENTINEL_H
#define IMGSRV_SENTINEL_H

#include <stddef.h>
#include <sys/time.h>

#include <hiredis.h>

#include "err.h"

#define SENTINEL_MAX 8 /* sentinels in one -redis */

struct sentinel_addr {
	char host[256];
	int port;
};

struct sentinel {
	struct sentinel_addr at[SENTINEL_MAX];
	int n;
	int first;        /* asked first: the last one that answered */
	char master[128]; /* the master's name, as in "sentinel monitor" */
};

/* 1 if spec is a sentinel:// address, else 0. */
int sentinel_is(const char *spec);

/*
 * Parses "sentinel://HOST:PORT[,HOST:PORT...]/NAME" (a HOST may be an
 * IPv6 address in brackets) into *s.  Returns 0, or -1 with
 * ERR_BAD_REQUEST and what is wrong.
 */
int sentinel_parse(const char *spec, struct sentinel *s, struct err *e);

/*
 * Parses len bytes of "HOST:PORT" or "[V6]:PORT" into *a.  Returns 0 or
 * -1.
 */
int sentinel_addr_parse(const char *text, size_t len, struct sentinel_addr *a);

/*
 * Asks the sentinels of s, each within tv, for the address of its master.
 * Returns 0 with *master set, or -1 with ERR_BUSY and why: no sentinel
 * answered, or none knows the name.
 */
int sentinel_ask(struct sentinel *s, struct timeval tv,
		 struct sentinel_addr *master, struct err *e);

/*
 * Asks the server on ctx its ROLE.  Returns 0 when it is a master, or -1
 * with ERR_BUSY and why (a replica, no answer).
 */
int sentinel_role_master(redisContext *ctx, struct err *e);

#endif
