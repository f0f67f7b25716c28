/* registry.c - Redis registry of stored files, work locks, failed attempts. */
#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERROR_TTL_S 10

/* Compare-and-delete, compare-and-renew: only the token's owner may. */
static const char release_lua[] =
	"if redis.call('get',KEYS[1])==ARGV[1] then "
	"return redis.call('del',KEYS[1]) else return 0 end";
static const char renew_lua[] =
	"if redis.call('get',KEYS[1])==ARGV[1] then "
	"return redis.call('pexpire',KEYS[1],ARGV[2]) else return 0 end";

struct registry_lock {
	struct registry *reg;
	char key[512];
	char token[33];
	struct registry_lock *prev, *next;
};

struct registry {
	struct redis *redis;
	int lock_ttl_ms;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct registry_lock *held; /* renewed by the renewer thread */
	int nheld;
	int stop;
	pthread_t renewer;
	int renewer_started;
};

/* For commands whose reply says nothing more than that Redis answered. */
static enum registry_rc answered(redisReply *rep)
{
	if (rep == NULL)
		return REGISTRY_DOWN;
	redis_reply_free(rep);
	return REGISTRY_OK;
}

/* What the renewer copies out of the held list, to renew without the
 * mutex: registry_lock and registry_unlock never wait for the network. */
struct renewal {
	char key[512];
	char token[33];
};

/* Copies the held locks into *todo (grown as needed); returns how many.
 * Called with reg->mu held. */
static int copy_held(struct registry *reg, struct renewal **todo, int *cap)
{
	int n = 0;

	if (reg->nheld > *cap) {
		struct renewal *t = realloc(*todo, (size_t)reg->nheld * sizeof(*t));
		if (t != NULL)
			*todo = t, *cap = reg->nheld;
	}
	for (struct registry_lock *l = reg->held; l != NULL && n < *cap;
	     l = l->next, n++) {
		memcpy((*todo)[n].key, l->key, sizeof(l->key));
		memcpy((*todo)[n].token, l->token, sizeof(l->token));
	}
	return n;
}

static void *renewer_main(void *arg)
{
	struct registry *reg = arg;
	struct redis_conn *c = redis_conn_new(reg->redis);
	long period = reg->lock_ttl_ms / 3;
	struct renewal *todo = NULL;
	int cap = 0;

	pthread_mutex_lock(&reg->mu);
	while (!reg->stop) {
		struct timespec until;
		int n;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += period / 1000;
		until.tv_nsec += (period % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L)
			until.tv_sec++, until.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&reg->cond, &reg->mu, &until);
		if (reg->stop)
			break;
		n = copy_held(reg, &todo, &cap);
		pthread_mutex_unlock(&reg->mu);
		/* A lock released meanwhile is not renewed: the script checks
		 * its token. */
		for (int i = 0; i < n && c != NULL; i++)
			(void)answered(redis_command(c, "EVAL %s 1 %s %s %d", renew_lua,
						     todo[i].key, todo[i].token,
						     reg->lock_ttl_ms));
		pthread_mutex_lock(&reg->mu);
	}
	pthread_mutex_unlock(&reg->mu);
	free(todo);
	redis_conn_free(c);
	return NULL;
}

struct registry *registry_new(struct redis *r, struct err *e)
{
	struct registry *reg = calloc(1, sizeof(*reg));

	if (reg == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	reg->redis = r;
	reg->lock_ttl_ms = redis_conf(r)->lock_ttl_ms;
	pthread_mutex_init(&reg->mu, NULL);
	pthread_cond_init(&reg->cond, NULL);
	if (redis_enabled(r)) {
		if (pthread_create(&reg->renewer, NULL, renewer_main, reg) != 0) {
			err_set(e, ERR_INTERNAL, "cannot start the lock renewer");
			registry_free(reg);
			return NULL;
		}
		reg->renewer_started = 1;
	}
	return reg;
}

void registry_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	if (reg->renewer_started) {
		pthread_mutex_lock(&reg->mu);
		reg->stop = 1;
		pthread_cond_signal(&reg->cond);
		pthread_mutex_unlock(&reg->mu);
		pthread_join(reg->renewer, NULL);
	}
	pthread_cond_destroy(&reg->cond);
	pthread_mutex_destroy(&reg->mu);
	free(reg);
}

enum registry_rc registry_lock(struct registry *reg, struct redis_conn *c,
			       const char *name, struct registry_lock **lock)
{
	struct registry_lock *l;
	redisReply *rep;
	int got;

	*lock = NULL;
	if (!redis_enabled(reg->redis))
		return REGISTRY_DOWN;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return REGISTRY_DOWN;
	l->reg = reg;
	redis_key(reg->redis, l->key, sizeof(l->key), "lock", name);
	redis_token(l->token);
	rep = redis_command(c, "SET %s %s NX PX %d", l->key, l->token,
			    reg->lock_ttl_ms);
	if (rep == NULL) {
		free(l);
		return REGISTRY_DOWN;
	}
	got = rep->type == REDIS_REPLY_STATUS;
	redis_reply_free(rep);
	if (!got) {
		free(l);
		return REGISTRY_HELD;
	}
	pthread_mutex_lock(&reg->mu);
	l->next = reg->held;
	if (reg->held != NULL)
		reg->held->prev = l;
	reg->held = l;
	reg->nheld++;
	pthread_mutex_unlock(&reg->mu);
	*lock = l;
	return REGISTRY_OK;
}

void registry_unlock(struct redis_conn *c, struct registry_lock *l)
{
	struct registry *reg;

	if (l == NULL)
		return;
	reg = l->reg;
	pthread_mutex_lock(&reg->mu);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		reg->held = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	reg->nheld--;
	pthread_mutex_unlock(&reg->mu);
	(void)answered(redis_command(c, "EVAL %s 1 %s %s", release_lua, l->key,
				     l->token));
	free(l);
}

enum registry_rc registry_lock_state(struct redis_conn *c, const char *name)
{
	char key[512];
	redisReply *rep;
	int held;

	redis_key(redis_of(c), key, sizeof(key), "lock", name);
	rep = redis_command(c, "EXISTS %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	held = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
	redis_reply_free(rep);
	return held ? REGISTRY_HELD : REGISTRY_FREE;
}

static enum registry_rc set_cmd(struct redis_conn *c, const char *cmd,
				const char *image, const char *file)
{
	char key[512];

	redis_key(redis_of(c), key, sizeof(key), "outputs", image);
	return answered(redis_command(c, "%s %s %s", cmd, key, file));
}

enum registry_rc registry_add(struct redis_conn *c, const char *image,
			      const char *file)
{
	return set_cmd(c, "SADD", image, file);
}

enum registry_rc registry_forget(struct redis_conn *c, const char *image,
				 const char *file)
{
	return set_cmd(c, "SREM", image, file);
}

enum registry_rc registry_set_error(struct redis_conn *c, const char *name,
				    const struct err *failure)
{
	char key[512], val[300];

	redis_key(redis_of(c), key, sizeof(key), "error", name);
	snprintf(val, sizeof(val), "%d %s", (int)failure->code, failure->msg);
	return answered(redis_command(c, "SET %s %s EX %d", key, val, ERROR_TTL_S));
}

enum registry_rc registry_get_error(struct redis_conn *c, const char *name,
				    struct err *e)
{
	char key[512];
	redisReply *rep;
	enum registry_rc rc = REGISTRY_NONE;

	redis_key(redis_of(c), key, sizeof(key), "error", name);
	rep = redis_command(c, "GET %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	if (rep->type == REDIS_REPLY_STRING) {
		char *sp = strchr(rep->str, ' ');
		int code = atoi(rep->str);
		if (code > ERR_NONE && code < ERR_COUNT) {
			err_set(e, (enum err_code)code, "%s", sp ? sp + 1 : "");
			rc = REGISTRY_OK;
		}
	}
	redis_reply_free(rep);
	return rc;
}

enum registry_rc registry_generation(struct redis_conn *c, const char *image,
				     long long *gen)
{
	char key[512];
	redisReply *rep;

	redis_key(redis_of(c), key, sizeof(key), "gen", image);
	rep = redis_command(c, "GET %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	*gen = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : 0;
	redis_reply_free(rep);
	return REGISTRY_OK;
}

enum registry_rc registry_next_generation(struct redis_conn *c,
					  const char *image, long long *gen)
{
	char key[512];
	redisReply *rep;

	redis_key(redis_of(c), key, sizeof(key), "gen", image);
	rep = redis_command(c, "INCR %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	*gen = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
	redis_reply_free(rep);
	return REGISTRY_OK;
}

enum registry_rc registry_files(struct redis_conn *c, const char *image,
				void (*fn)(void *arg, const char *file),
				void *arg)
{
	char key[512];
	redisReply *rep;

	redis_key(redis_of(c), key, sizeof(key), "outputs", image);
	rep = redis_command(c, "SMEMBERS %s", key);
	if (rep == NULL)
		return REGISTRY_DOWN;
	for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements;
	     i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING)
			fn(arg, rep->element[i]->str);
	redis_reply_free(rep);
	return REGISTRY_OK;
}

enum registry_rc registry_purge(struct redis_conn *c, const char *image,
				const char *keep, const char *const *files,
				size_t n)
{
	/* Every member but keep, in one step. */
	static const char keep_lua[] =
		"local had = redis.call('sismember',KEYS[1],ARGV[1]) "
		"redis.call('del',KEYS[1]) "
		"if had == 1 then redis.call('sadd',KEYS[1],ARGV[1]) end "
		"return had";
	char key[512], name[512];
	redisReply *rep;

	for (size_t i = 0; i < n; i++) {
		if (keep != NULL && strcmp(files[i], keep) == 0)
			continue;
		snprintf(name, sizeof(name), "%s/%s", image, files[i]);
		redis_key(redis_of(c), key, sizeof(key), "error", name);
		if ((rep = redis_command(c, "DEL %s", key)) == NULL)
			return REGISTRY_DOWN;
		redis_reply_free(rep);
	}
	redis_key(redis_of(c), key, sizeof(key), "outputs", image);
	if (keep == NULL)
		rep = redis_command(c, "DEL %s", key);
	else
		rep = redis_command(c, "EVAL %s 1 %s %s", keep_lua, key, keep);
	if (rep == NULL)
		return REGISTRY_DOWN;
	redis_reply_free(rep);
	return REGISTRY_OK;
}

enum registry_rc registry_publish_purged(struct redis_conn *c,
					 const char *paths)
{
	char channel[256];
	redisReply *rep;

	redis_key(redis_of(c), channel, sizeof(channel), "purged", NULL);
	if ((rep = redis_command(c, "PUBLISH %s %s", channel, paths)) == NULL)
		return REGISTRY_DOWN;
	redis_reply_free(rep);
	return REGISTRY_OK;
}
