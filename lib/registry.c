/* registry.c - Redis registry of stored files, and work locks. */
#include "registry.h"

#include <errno.h>
#include <hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define OUTAGE_LOG_INTERVAL 30 /* seconds between "still down" lines */
#define RETRY_AFTER_MS 1000    /* a connection that failed waits this long */
#define ERROR_TTL_S 10

/* Compare-and-delete, compare-and-renew: only the token's owner may. */
static const char release_lua[] =
	"if redis.call('get',KEYS[1])==ARGV[1] then "
	"return redis.call('del',KEYS[1]) else return 0 end";
static const char renew_lua[] =
	"if redis.call('get',KEYS[1])==ARGV[1] then "
	"return redis.call('pexpire',KEYS[1],ARGV[2]) else return 0 end";

struct registry_lock {
	char key[512];
	char token[33];
	struct registry_lock *prev, *next;
};

struct registry {
	const struct conf *conf;
	int enabled;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct registry_lock *held; /* renewed by the renewer thread */
	int nheld;
	int stop;
	pthread_t renewer;
	int renewer_started;
	pthread_mutex_t outage_mu; /* guards the two below */
	int down;        /* Redis was found down and not back since */
	time_t last_log; /* of the outage */
};

struct registry_conn {
	struct registry *reg;
	redisContext *ctx;
	double failed_at; /* ms, monotonic; 0: never */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void note_down(struct registry *r, const char *why)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&r->outage_mu);
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
	pthread_mutex_unlock(&r->outage_mu);
}

static void note_up(struct registry *r)
{
	pthread_mutex_lock(&r->outage_mu);
	if (r->down) {
		r->down = 0;
		log_warn("redis %s is back", r->conf->redis);
	}
	pthread_mutex_unlock(&r->outage_mu);
}

static void drop(struct registry_conn *c, const char *reason)
{
	char why[128];

	/* reason may live in the context freed below. */
	snprintf(why, sizeof(why), "%s", reason);
	if (c->ctx != NULL) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	c->failed_at = now_ms();
	note_down(c->reg, why);
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

/* Runs a command on a fresh connection's setup; 0 if it answered OK. */
static int setup_cmd(redisReply *rep)
{
	int ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;

	if (rep != NULL)
		freeReplyObject(rep);
	return ok ? 0 : -1;
}

/* The connection, (re)connected if needed; NULL while Redis is down. */
static redisContext *conn(struct registry_conn *c)
{
	const struct conf *cf = c->reg->conf;
	struct timeval tv = { cf->redis_timeout_ms / 1000,
			      (cf->redis_timeout_ms % 1000) * 1000 };

	if (!c->reg->enabled)
		return NULL;
	if (c->ctx != NULL)
		return c->ctx;
	if (c->failed_at != 0 && now_ms() - c->failed_at < RETRY_AFTER_MS)
		return NULL;
	c->ctx = dial(cf, tv);
	if (c->ctx == NULL || c->ctx->err) {
		drop(c, c->ctx ? c->ctx->errstr : "bad -redis address");
		return NULL;
	}
	redisSetTimeout(c->ctx, tv);
	if ((cf->redis_password[0] &&
	     setup_cmd(redisCommand(c->ctx, "AUTH %s",
					    cf->redis_password)) < 0) ||
	    (cf->redis_db != 0 &&
	     setup_cmd(redisCommand(c->ctx, "SELECT %d",
					    cf->redis_db)) < 0)) {
		drop(c, "AUTH or SELECT refused");
		return NULL;
	}
	c->failed_at = 0;
	note_up(c->reg);
	return c->ctx;
}

/*
 * Runs a command; returns the reply (caller frees) or NULL when Redis is
 * down, in which case the connection is dropped to be remade later.
 */
static redisReply *vcommand(struct registry_conn *c, const char *fmt,
			    va_list args)
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
		/* Resend only when the connection was found closed: after a
		 * timeout the command may have run, and a SET NX or an LMOVE
		 * must not run twice. */
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


redisReply *registry_command(struct registry_conn *c, const char *fmt, ...)
{
	redisReply *rep;
	va_list ap;

	va_start(ap, fmt);
	rep = vcommand(c, fmt, ap);
	va_end(ap);
	return rep;
}

void registry_key(struct registry_conn *c, char *buf, size_t size,
		  const char *kind, const char *name)
{
	snprintf(buf, size, "%s%s:%s", c->reg->conf->redis_prefix, kind, name);
}

/* For commands whose reply says nothing more than that Redis answered. */
static enum registry_rc answered(redisReply *rep)
{
	if (rep == NULL)
		return REGISTRY_DOWN;
	freeReplyObject(rep);
	return REGISTRY_OK;
}

static void key_of(const struct registry *r, char *buf, size_t size,
		   const char *kind, const char *name)
{
	snprintf(buf, size, "%s%s:%s", r->conf->redis_prefix, kind, name);
}

/* What the renewer copies out of the held list, to renew without the
 * mutex: registry_lock and registry_unlock never wait for the network. */
struct renewal {
	char key[512];
	char token[33];
};

static void *renewer_main(void *arg)
{
	struct registry *r = arg;
	struct registry_conn *c = registry_conn_new(r);
	long period = r->conf->lock_ttl_ms / 3;
	struct renewal *todo = NULL;
	int cap = 0;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct timespec until;
		int n = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += period / 1000;
		until.tv_nsec += (period % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L)
			until.tv_sec++, until.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&r->cond, &r->mu, &until);
		if (r->stop)
			break;
		if (r->nheld > cap) {
			struct renewal *t = realloc(todo, (size_t)r->nheld * sizeof(*t));
			if (t != NULL)
				todo = t, cap = r->nheld;
		}
		for (struct registry_lock *l = r->held; l != NULL && n < cap;
		     l = l->next, n++) {
			memcpy(todo[n].key, l->key, sizeof(l->key));
			memcpy(todo[n].token, l->token, sizeof(l->token));
		}
		pthread_mutex_unlock(&r->mu);
		/* A lock released meanwhile is not renewed: the script checks
		 * its token. */
		for (int i = 0; i < n && c != NULL; i++)
			(void)answered(registry_command(c, "EVAL %s 1 %s %s %d", renew_lua,
					       todo[i].key, todo[i].token,
					       r->conf->lock_ttl_ms));
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	free(todo);
	registry_conn_free(c);
	return NULL;
}

struct registry *registry_new(const struct conf *cf, struct err *e)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	r->conf = cf;
	r->enabled = cf->redis[0] != '\0';
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->outage_mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (r->enabled) {
		if (pthread_create(&r->renewer, NULL, renewer_main, r) != 0) {
			err_set(e, ERR_INTERNAL, "cannot start the lock renewer");
			registry_free(r);
			return NULL;
		}
		r->renewer_started = 1;
	}
	return r;
}

void registry_free(struct registry *r)
{
	if (r == NULL)
		return;
	if (r->renewer_started) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->renewer, NULL);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->outage_mu);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

const char *registry_state(struct registry *r)
{
	int down;

	if (!r->enabled)
		return "off";
	pthread_mutex_lock(&r->outage_mu);
	down = r->down;
	pthread_mutex_unlock(&r->outage_mu);
	return down ? "down" : "up";
}

struct registry_conn *registry_conn_new(struct registry *r)
{
	struct registry_conn *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->reg = r;
	return c;
}

void registry_conn_free(struct registry_conn *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		redisFree(c->ctx);
	free(c);
}

static void new_token(char out[33])
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		/* Unique enough to tell workers apart if getrandom fails. */
		static atomic_ullong seq;
		unsigned long long t = (unsigned long long)now_ms();
		unsigned long long n = atomic_fetch_add(&seq, 1) ^ (unsigned long long)getpid();
		memcpy(raw, &t, sizeof(t));
		memcpy(raw + 8, &n, sizeof(n));
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

enum registry_rc registry_lock(struct registry_conn *c, const char *name,
			       struct registry_lock **lock)
{
	struct registry *r = c->reg;
	struct registry_lock *l;
	redisReply *rep;
	int got;

	*lock = NULL;
	if (!r->enabled)
		return REGISTRY_DOWN;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return REGISTRY_DOWN;
	key_of(r, l->key, sizeof(l->key), "lock", name);
	new_token(l->token);
	rep = registry_command(c, "SET %s %s NX PX %d", l->key, l->token,
		      r->conf->lock_ttl_ms);
	if (rep == NULL) {
		free(l);
		return REGISTRY_DOWN;
	}
	got = rep->type == REDIS_REPLY_STATUS;
	freeReplyObject(rep);
	if (!got) {
		free(l);
		return REGISTRY_BUSY;
	}
	pthread_mutex_lock(&r->mu);
	l->next = r->held;
	if (r->held != NULL)
		r->held->prev = l;
	r->held = l;
	r->nheld++;
	pthread_mutex_unlock(&r->mu);
	*lock = l;
	return REGISTRY_OK;
}

void registry_unlock(struct registry_conn *c, struct registry_lock *l)
{
	struct registry *r = c->reg;

	if (l == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		r->held = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	r->nheld--;
	pthread_mutex_unlock(&r->mu);
	(void)answered(registry_command(c, "EVAL %s 1 %s %s", release_lua, l->key,
			       l->token));
	free(l);
}

enum registry_rc registry_locked(struct registry_conn *c, const char *name)
{
	char key[512];
	redisReply *rep;
	int held;

	key_of(c->reg, key, sizeof(key), "lock", name);
	rep = registry_command(c, "EXISTS %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	held = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	freeReplyObject(rep);
	return held ? REGISTRY_BUSY : REGISTRY_OK;
}

static enum registry_rc set_cmd(struct registry_conn *c, const char *cmd,
				const char *image, const char *file)
{
	char key[512];

	key_of(c->reg, key, sizeof(key), "outputs", image);
	return answered(registry_command(c, "%s %s %s", cmd, key, file));
}

enum registry_rc registry_add(struct registry_conn *c, const char *image,
			      const char *file)
{
	return set_cmd(c, "SADD", image, file);
}

enum registry_rc registry_forget(struct registry_conn *c, const char *image,
				 const char *file)
{
	return set_cmd(c, "SREM", image, file);
}

enum registry_rc registry_set_error(struct registry_conn *c, const char *name,
				    const struct err *failure)
{
	char key[512], val[300];

	key_of(c->reg, key, sizeof(key), "error", name);
	snprintf(val, sizeof(val), "%d %s", (int)failure->code, failure->msg);
	return answered(registry_command(c, "SET %s %s EX %d", key, val, ERROR_TTL_S));
}

enum registry_rc registry_get_error(struct registry_conn *c, const char *name,
				    struct err *e)
{
	char key[512];
	redisReply *rep;
	enum registry_rc rc = REGISTRY_BUSY;

	key_of(c->reg, key, sizeof(key), "error", name);
	rep = registry_command(c, "GET %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	if (rep->type == REDIS_REPLY_STRING) {
		char *sp = strchr(rep->str, ' ');
		int code = atoi(rep->str);
		if (code > ERR_NONE && code <= ERR_INTERNAL) {
			err_set(e, (enum err_code)code, "%s", sp ? sp + 1 : "");
			rc = REGISTRY_OK;
		}
	}
	freeReplyObject(rep);
	return rc;
}
