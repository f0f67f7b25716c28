/* redis.c - per-thread Redis connections, reconnects and the outage log. */
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

#define OUTAGE_LOG_INTERVAL 30 /* seconds between "still down" lines */
#define RETRY_AFTER_MS 1000    /* a connection that failed waits this long */

struct redis {
	const struct conf *conf;
	int enabled;
	pthread_mutex_t mu; /* guards the two below */
	int down;           /* found down and not back since */
	time_t last_log;    /* of the outage */
};

struct redis_conn {
	struct redis *r;
	redisContext *ctx;
	double failed_at; /* ms, monotonic; 0: never */
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
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
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

static void note_up(struct redis *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->down) {
		r->down = 0;
		log_warn("redis %s is back", r->conf->redis);
	}
	pthread_mutex_unlock(&r->mu);
}

struct redis_conn *redis_conn_new(struct redis *r)
{
	struct redis_conn *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->r = r;
	return c;
}

void redis_conn_free(struct redis_conn *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	free(c);
}

struct redis *redis_of(const struct redis_conn *c)
{
	return c->r;
}

static void drop(struct redis_conn *c, const char *reason)
{
	char why[128];

	/* reason may live in the context freed below. */
	snprintf(why, sizeof(why), "%s", reason);
	if (c->ctx != NULL) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	c->failed_at = clock_now_ms();
	note_down(c->r, why);
}

static redisContext *dial(const struct conf *cf, struct timeval tv)
{
	char host[256];
	const char *colon;

	if (strncmp(cf->redis, "unix:", 5) == 0)
		return redisConnectUnixWithTimeout(cf->redis + 5, tv);
	colon = strrchr(cf->redis, ':');
	if (colon == NULL || (size_t)(colon - cf->redis) >= sizeof(host))
		return NULL;
	memcpy(host, cf->redis, (size_t)(colon - cf->redis));
	host[colon - cf->redis] = '\0';
	return redisConnectWithTimeout(host, atoi(colon + 1), tv);
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
	struct timeval tv = { cf->redis_timeout_ms / 1000,
			      (cf->redis_timeout_ms % 1000) * 1000 };

	if (!c->r->enabled)
		return NULL;
	if (c->ctx != NULL)
		return c->ctx;
	if (c->failed_at != 0 && clock_now_ms() - c->failed_at < RETRY_AFTER_MS)
		return NULL;
	c->ctx = dial(cf, tv);
	if (c->ctx == NULL || c->ctx->err) {
		drop(c, c->ctx ? c->ctx->errstr : "bad -redis address");
		return NULL;
	}
	redisSetTimeout(c->ctx, tv);
	if ((cf->redis_password[0] &&
	     setup_cmd(redisCommand(c->ctx, "AUTH %s", cf->redis_password)) < 0) ||
	    (cf->redis_db != 0 &&
	     setup_cmd(redisCommand(c->ctx, "SELECT %d", cf->redis_db)) < 0)) {
		drop(c, "AUTH or SELECT refused");
		return NULL;
	}
	c->failed_at = 0;
	note_up(c->r);
	return c->ctx;
}

static redisReply *vcommand(struct redis_conn *c, const char *fmt, va_list args)
{
	redisReply *rep = NULL;
	va_list ap;

	/* A connection idle since Redis restarted fails its first command:
	 * then reconnect and send it once more. */
	for (int attempt = 0; attempt < 2 && rep == NULL; attempt++) {
		int stale = c->ctx != NULL;
		redisContext *ctx = conn(c);

		if (ctx == NULL)
			return NULL;
		va_copy(ap, args);
		rep = redisvCommand(ctx, fmt, ap);
		va_end(ap);
		if (rep != NULL)
			break;
		if (!stale || ctx->err != REDIS_ERR_EOF) {
			drop(c, ctx->errstr[0] ? ctx->errstr : "no reply");
			return NULL;
		}
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		log_error("redis: %s", rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
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
