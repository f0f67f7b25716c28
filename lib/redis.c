/* redis.c - per-thread Redis connections, reconnects, Sentinel failovers
 * and the outage log. */
#include "redis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sentinel.h"

#define OUTAGE_LOG_INTERVAL 30 /* seconds between "still down" lines */
#define RETRY_AFTER_MS 1000    /* a connection that failed waits this long */
/* While all is well, the sentinels are asked again this often, by one
 * thread: a master that lives on after a failover (SENTINEL FAILOVER, a
 * partition) is left within this time; Sentinel demotes it, and closes
 * its clients, only when it next looks at it, seconds later. */
#define RECHECK_MS 1000

struct redis {
	const struct conf *conf;
	int enabled;
	pthread_mutex_t mu; /* guards everything below but sent */
	int down;           /* found down and not back since */
	time_t last_log;    /* of the outage */

	/* -redis sentinel://...: the master as last found. */
	int sentinel;
	struct sentinel_addr master;
	int master_known;    /* 0: ask the sentinels before the next connect */
	int master_ever;     /* an address was ever found */
	unsigned gen;        /* bumped whenever the master's address changes */
	double asked_at;     /* ms, monotonic: the sentinels last asked */
	unsigned long asks;  /* finished asks: waiters reuse a fresh one */
	pthread_mutex_t ask_mu; /* one thread asks at a time; guards sent */
	struct sentinel sent;
};

struct redis_conn {
	struct redis *r;
	redisContext *ctx;
	double failed_at;  /* ms, monotonic; 0: never */
	unsigned gen;      /* the master ctx was made to (Sentinel) */
	char where[300];   /* HOST:PORT of ctx, for messages */
	/* redis_wait_begin(): a span of commands WAIT must confirm. */
	int span, span_sent, span_broken;
};

struct redis *redis_new(const struct conf *c, struct err *e)
{
	struct redis *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	r->conf = c;
	r->enabled = c->redis[0] != '\0';
	r->sentinel = r->enabled && sentinel_is(c->redis);
	if (r->sentinel && sentinel_parse(c->redis, &r->sent, e) < 0) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->ask_mu, NULL);
	return r;
}

void redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->ask_mu);
	free(r);
}

int redis_enabled(const struct redis *r)
{
	return r->enabled;
}

const struct conf *redis_conf(const struct redis *r)
{
	return r->conf;
}

const char *redis_state(struct redis *r)
{
	int down;

	if (!r->enabled)
		return "off";
	pthread_mutex_lock(&r->mu);
	down = r->down;
	pthread_mutex_unlock(&r->mu);
	return down ? "down" : "up";
}

int redis_master(struct redis *r, char *buf, size_t size)
{
	int known;

	if (!r->sentinel)
		return -1;
	pthread_mutex_lock(&r->mu);
	known = r->master_ever;
	if (known)
		snprintf(buf, size, "%s:%d", r->master.host, r->master.port);
	pthread_mutex_unlock(&r->mu);
	return known ? 0 : -1;
}

static void note_down(struct redis *r, const char *why)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&r->mu);
	if (!r->down) {
		r->down = 1;
		r->last_log = now;
		log_warn("redis %s is down (%s): serving without it, "
			 "de-duplicating within this process",
			 r->conf->redis, why);
	} else if (now - r->last_log >= OUTAGE_LOG_INTERVAL) {
		r->last_log = now;
		log_warn("redis %s is still down (%s)", r->conf->redis, why);
	}
	pthread_mutex_unlock(&r->mu);
}

static void note_up(struct redis *r, const char *where)
{
	pthread_mutex_lock(&r->mu);
	if (r->down) {
		r->down = 0;
		if (r->sentinel)
			log_warn("redis %s is back (master %s)", r->conf->redis, where);
		else
			log_warn("redis %s is back", r->conf->redis);
	}
	pthread_mutex_unlock(&r->mu);
}

/* The timeout of connects and commands. */
static struct timeval timeout_of(const struct conf *cf)
{
	struct timeval tv = { cf->redis_timeout_ms / 1000,
			      (cf->redis_timeout_ms % 1000) * 1000 };
	return tv;
}

/* Asks the sentinels, with ask_mu held, and keeps what they say.  When
 * none answers, the master known before stays (it may well be up). */
static int ask_sentinels(struct redis *r, struct err *e)
{
	struct sentinel_addr m;
	int rc = sentinel_ask(&r->sent, timeout_of(r->conf), &m, e);

	pthread_mutex_lock(&r->mu);
	r->asks++;
	if (rc == 0) {
		r->asked_at = clock_now_ms();
		if (!r->master_ever)
			log_info("redis %s: master %s is %s:%d", r->conf->redis,
				 r->sent.master, m.host, m.port);
		else if (strcmp(m.host, r->master.host) != 0 ||
			 m.port != r->master.port)
			log_warn("redis %s: master %s moved from %s:%d to %s:%d",
				 r->conf->redis, r->sent.master, r->master.host,
				 r->master.port, m.host, m.port);
		if (!r->master_ever || strcmp(m.host, r->master.host) != 0 ||
		    m.port != r->master.port) {
			r->master = m;
			r->gen++;
		}
		r->master_ever = 1;
	}
	if (r->master_ever)
		r->master_known = 1;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/*
 * The master to connect to, and its generation: the one known, else the
 * sentinels' answer.  Threads that need one at the same moment share one
 * ask.  Returns 0, or -1 with why.
 */
static int find_master(struct redis *r, struct sentinel_addr *a,
		       unsigned *gen, struct err *e)
{
	unsigned long asks;
	int rc = 0, known;

	pthread_mutex_lock(&r->mu);
	known = r->master_known;
	asks = r->asks;
	pthread_mutex_unlock(&r->mu);
	if (!known) {
		pthread_mutex_lock(&r->ask_mu);
		pthread_mutex_lock(&r->mu);
		known = r->asks != asks; /* asked meanwhile by another thread */
		pthread_mutex_unlock(&r->mu);
		if (!known)
			rc = ask_sentinels(r, e);
		pthread_mutex_unlock(&r->ask_mu);
	}
	pthread_mutex_lock(&r->mu);
	if (r->master_known) {
		*a = r->master;
		*gen = r->gen;
		rc = 0;
	} else if (rc == 0) {
		rc = err_set(e, ERR_BUSY, "no master known");
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* The master of generation gen failed us: ask the sentinels before the
 * next connect (unless another thread has found a newer one already). */
static void suspect(struct redis *r, unsigned gen)
{
	pthread_mutex_lock(&r->mu);
	if (r->gen == gen)
		r->master_known = 0;
	pthread_mutex_unlock(&r->mu);
}

/* 1 if the master has moved since c connected to it. */
static int moved(struct redis_conn *c)
{
	int m;

	pthread_mutex_lock(&c->r->mu);
	m = c->r->sentinel && c->r->gen != c->gen;
	pthread_mutex_unlock(&c->r->mu);
	return m;
}

/* Every RECHECK_MS, one thread asks the sentinels whether the master is
 * still where we think (the others do not wait for it). */
static void recheck(struct redis *r)
{
	double now = clock_now_ms();
	int due;

	pthread_mutex_lock(&r->mu);
	due = now - r->asked_at >= RECHECK_MS;
	pthread_mutex_unlock(&r->mu);
	if (!due || pthread_mutex_trylock(&r->ask_mu) != 0)
		return;
	pthread_mutex_lock(&r->mu);
	due = now - r->asked_at >= RECHECK_MS;
	if (due)
		r->asked_at = now; /* even if none answers: not again at once */
	pthread_mutex_unlock(&r->mu);
	if (due)
		(void)ask_sentinels(r, NULL);
	pthread_mutex_unlock(&r->ask_mu);
}

struct redis_conn *redis_conn_new(struct redis *r)
{
	struct redis_conn *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->r = r;
	return c;
}

/* Closes c's connection, if any.  Commands of a span sent on it are then
 * unconfirmable. */
static void close_conn(struct redis_conn *c)
{
	if (c->ctx == NULL)
		return;
	redisFree(c->ctx);
	c->ctx = NULL;
	if (c->span && c->span_sent)
		c->span_broken = 1;
}

void redis_conn_free(struct redis_conn *c)
{
	if (c == NULL)
		return;
	close_conn(c);
	free(c);
}

struct redis *redis_of(const struct redis_conn *c)
{
	return c->r;
}

/* Connecting to Redis, or to the master, failed: wait before the next
 * try, and look for the master again. */
static void failed(struct redis_conn *c, const char *reason)
{
	char why[400];

	/* reason may live in the context freed below. */
	snprintf(why, sizeof(why), "%s%s%s", c->where, c->where[0] ? ": " : "",
		 reason);
	close_conn(c);
	c->failed_at = clock_now_ms();
	if (c->r->sentinel)
		suspect(c->r, c->gen);
	note_down(c->r, why);
}

/* An established connection failed.  If the master has moved meanwhile
 * this is no outage: the next command connects to the new one. */
static void lost(struct redis_conn *c, const char *reason)
{
	if (moved(c)) {
		close_conn(c);
		return;
	}
	failed(c, reason);
}

/* A new connection to -redis, or to the master the sentinels name (its
 * generation in c->gen, its address in c->where); NULL with why in e when
 * there is nothing to connect to. */
static redisContext *dial(struct redis_conn *c, const struct conf *cf,
			  struct timeval tv, struct err *e)
{
	struct sentinel_addr a;

	if (c->r->sentinel) {
		if (find_master(c->r, &a, &c->gen, e) < 0)
			return NULL;
		snprintf(c->where, sizeof(c->where), "%s:%d", a.host, a.port);
		return redisConnectWithTimeout(a.host, a.port, tv);
	}
	if (strncmp(cf->redis, "unix:", 5) == 0)
		return redisConnectUnixWithTimeout(cf->redis + 5, tv);
	if (sentinel_addr_parse(cf->redis, strlen(cf->redis), &a) < 0) {
		err_set(e, ERR_BAD_REQUEST, "bad -redis address");
		return NULL;
	}
	return redisConnectWithTimeout(a.host, a.port, tv);
}

/* 0 if a command of a fresh connection's setup was answered OK. */
static int setup_cmd(redisReply *rep)
{
	int ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;

	redis_reply_free(rep);
	return ok ? 0 : -1;
}

/* The connection, (re)connected if needed; NULL while Redis is down. */
static redisContext *conn(struct redis_conn *c)
{
	const struct conf *cf = c->r->conf;
	struct timeval tv = timeout_of(cf);
	struct err e;

	if (!c->r->enabled)
		return NULL;
	if (c->ctx != NULL && c->r->sentinel) {
		recheck(c->r);
		if (moved(c))
			close_conn(c); /* connect to the new master below */
	}
	if (c->ctx != NULL)
		return c->ctx;
	if (c->failed_at != 0 && clock_now_ms() - c->failed_at < RETRY_AFTER_MS)
		return NULL;
	c->where[0] = '\0';
	err_clear(&e);
	c->ctx = dial(c, cf, tv, &e);
	if (c->ctx == NULL || c->ctx->err) {
		failed(c, c->ctx ? c->ctx->errstr : e.msg);
		return NULL;
	}
	redisSetTimeout(c->ctx, tv);
	if ((cf->redis_password[0] &&
	     setup_cmd(redisCommand(c->ctx, "AUTH %s", cf->redis_password)) < 0) ||
	    (cf->redis_db != 0 &&
	     setup_cmd(redisCommand(c->ctx, "SELECT %d", cf->redis_db)) < 0)) {
		failed(c, "AUTH or SELECT refused");
		return NULL;
	}
	/* A sentinel's answer may be a failover behind: ask the server. */
	if (c->r->sentinel && sentinel_role_master(c->ctx, &e) < 0) {
		failed(c, e.msg);
		return NULL;
	}
	c->failed_at = 0;
	note_up(c->r, c->where);
	return c->ctx;
}

/* A write refused by a replica: the server we talk to is no master now
 * (a failover demoted it), and the command did not run. */
static int readonly(const redisReply *rep)
{
	return strncmp(rep->str, "READONLY", 8) == 0 ||
	       strstr(rep->str, "-READONLY") != NULL;
}

static redisReply *vcommand(struct redis_conn *c, const char *fmt, va_list args)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int stale = c->ctx != NULL;
		redisContext *ctx = conn(c);
		redisReply *rep;
		va_list ap;

		if (ctx == NULL)
			return NULL;
		if (c->span)
			c->span_sent = 1;
		va_copy(ap, args);
		rep = redisvCommand(ctx, fmt, ap);
		va_end(ap);
		if (rep == NULL) {
			/* A connection idle since Redis restarted, or since a
			 * failover closed it, fails its first command: then
			 * reconnect and send it once more.  After a timeout it
			 * may have run: a SET NX or an LMOVE must not run twice. */
			if (stale && attempt == 0 && ctx->err == REDIS_ERR_EOF) {
				/* Sentinel kills the clients of a server it
				 * demotes: ask where the master is now. */
				if (c->r->sentinel)
					suspect(c->r, c->gen);
				close_conn(c);
				continue;
			}
			lost(c, ctx->errstr[0] ? ctx->errstr : "no reply");
			return NULL;
		}
		if (rep->type != REDIS_REPLY_ERROR)
			return rep;
		if (readonly(rep)) {
			freeReplyObject(rep);
			if (c->r->sentinel && attempt == 0) {
				/* Find the master anew and send it there. */
				suspect(c->r, c->gen);
				close_conn(c);
				continue;
			}
			failed(c, "READONLY: a replica, not a master");
			return NULL;
		}
		log_error("redis: %s", rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return NULL;
}

redisReply *redis_command(struct redis_conn *c, const char *fmt, ...)
{
	redisReply *rep;
	va_list ap;

	va_start(ap, fmt);
	rep = vcommand(c, fmt, ap);
	va_end(ap);
	return rep;
}

void redis_wait_begin(struct redis_conn *c)
{
	c->span = 1;
	c->span_sent = 0;
	c->span_broken = 0;
}

int redis_wait(struct redis_conn *c, int replicas)
{
	int ms = c->r->conf->redis_timeout_ms / 2, acked = -1;
	redisReply *rep;

	if (!c->span_broken) {
		/* WAIT 0 would block for ever; the reply must come well
		 * within the command timeout. */
		rep = redis_command(c, "WAIT %d %d", replicas, ms > 0 ? ms : 1);
		if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
			acked = (int)rep->integer;
		redis_reply_free(rep);
	}
	/* A reconnect, even for the WAIT itself: the writes went to a
	 * server that may be gone, and the count says nothing of them. */
	if (c->span_broken)
		acked = -1;
	c->span = 0;
	return acked;
}

void redis_reply_free(redisReply *rep)
{
	if (rep != NULL)
		freeReplyObject(rep);
}

void redis_key(const struct redis *r, char *buf, size_t size,
	       const char *kind, const char *name)
{
	if (name == NULL)
		snprintf(buf, size, "%s%s", r->conf->redis_prefix, kind);
	else
		snprintf(buf, size, "%s%s:%s", r->conf->redis_prefix, kind, name);
}

void redis_token(char out[33])
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		/* Unique enough to tell workers apart if getrandom fails. */
		static atomic_ullong seq;
		unsigned long long t = (unsigned long long)clock_now_ms();
		unsigned long long n = atomic_fetch_add(&seq, 1) ^ (unsigned long long)getpid();
		memcpy(raw, &t, sizeof(t));
		memcpy(raw + 8, &n, sizeof(n));
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}
