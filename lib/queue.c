/* queue.c - the durable job queue: LMOVE into a per-worker list. */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/*
 * Pushes the jobs of the names (ARGV[3], one per line) that have none
 * pending, all or none: none when they would take the queue over the cap
 * (-1).  Else returns 1 for each name queued now, 0 for one pending.
 */
static const char push_lua[] =
	"local new, out = {}, {} "
	"for name in string.gmatch(ARGV[3], '[^\\n]+') do "
	"  if redis.call('sismember',KEYS[2],name) == 0 then "
	"    new[#new + 1] = name; out[#out + 1] = 1 "
	"  else out[#out + 1] = 0 end "
	"end "
	"if #new > 0 and redis.call('llen',KEYS[1]) + #new > tonumber(ARGV[1]) "
	"then return -1 end "
	"for _, name in ipairs(new) do "
	"  redis.call('sadd',KEYS[2],name) "
	"  redis.call('lpush',KEYS[1],'0 ' .. ARGV[2] .. ' ' .. name) "
	"end "
	"return out";

/* "{prefix}kind" and "{prefix}kind:name" */
static void plain_key(struct redis_conn *c, char *buf, size_t size,
		      const char *kind)
{
	redis_key(redis_of(c), buf, size, kind, NULL);
}

static void key_of(struct redis_conn *c, char *buf, size_t size,
		   const char *kind, const char *name)
{
	redis_key(redis_of(c), buf, size, kind, name);
}

enum queue_rc queue_push_all(struct redis_conn *c, const char *const *names,
			     int n, int force, long max_depth, int *pushed)
{
	char key[256], pending[256], list[QUEUE_PUSH_MAX * 400];
	size_t at = 0;
	redisReply *rep;
	enum queue_rc rc = QUEUE_DOWN;

	for (int i = 0; i < n; i++)
		pushed[i] = 0;
	if (n > QUEUE_PUSH_MAX)
		return QUEUE_FULL;
	for (int i = 0; i < n; i++)
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s\n",
				       names[i]);
	plain_key(c, key, sizeof(key), "queue");
	plain_key(c, pending, sizeof(pending), "pending");
	rep = redis_command(c, "EVAL %s 2 %s %s %ld %d %s", push_lua, key,
			    pending, max_depth, force ? 1 : 0, list);
	if (rep == NULL)
		return QUEUE_DOWN;
	if (rep->type == REDIS_REPLY_INTEGER && rep->integer < 0) {
		rc = QUEUE_FULL;
	} else if (rep->type == REDIS_REPLY_ARRAY && (int)rep->elements == n) {
		for (int i = 0; i < n; i++)
			pushed[i] = rep->element[i]->integer == 1;
		rc = QUEUE_OK;
	}
	redis_reply_free(rep);
	return rc;
}

enum queue_rc queue_push(struct redis_conn *c, const char *name, int force,
			 long max_depth)
{
	int pushed = 0;
	enum queue_rc rc = queue_push_all(c, &name, 1, force, max_depth, &pushed);

	return rc == QUEUE_OK && !pushed ? QUEUE_PENDING : rc;
}

static int parse_job(const char *raw, struct queue_job *job)
{
	int n = 0;

	snprintf(job->raw, sizeof(job->raw), "%s", raw);
	if (sscanf(raw, "%d %d %n", &job->attempts, &job->force, &n) != 2 || n == 0)
		return -1;
	snprintf(job->name, sizeof(job->name), "%s", raw + n);
	return 0;
}

/* Moves a job we cannot read out of the way, to the dead letters, for a
 * person to look at. */
static void bury(struct redis_conn *c, const char *processing, const char *raw)
{
	char dead[256];

	plain_key(c, dead, sizeof(dead), "dead");
	log_error("queue: malformed job '%s' moved to %s", raw, dead);
	redis_reply_free(redis_command(c, "LREM %s 1 %s", processing, raw));
	redis_reply_free(redis_command(c, "LPUSH %s %s", dead, raw));
}

enum queue_rc queue_take(struct redis_conn *c, const char *worker,
			 struct queue_job *job)
{
	char queue[256], processing[512];

	plain_key(c, queue, sizeof(queue), "queue");
	key_of(c, processing, sizeof(processing), "processing", worker);
	for (;;) {
		redisReply *rep = redis_command(c, "LMOVE %s %s RIGHT LEFT", queue,
						processing);
		int ok;

		if (rep == NULL)
			return QUEUE_DOWN;
		if (rep->type != REDIS_REPLY_STRING) {
			redis_reply_free(rep);
			return QUEUE_EMPTY;
		}
		ok = parse_job(rep->str, job) == 0;
		if (!ok)
			bury(c, processing, rep->str); /* and take the next */
		redis_reply_free(rep);
		if (ok)
			return QUEUE_OK;
	}
}

/* A job ends (done, or dead when KEYS[2] is given): out of its
 * processing list, filed as dead, and no longer pending, in one step. */
static const char end_lua[] =
	"redis.call('lrem',KEYS[1],1,ARGV[1]) "
	"if KEYS[3] then redis.call('lpush',KEYS[3],ARGV[3]) end "
	"return redis.call('srem',KEYS[2],ARGV[2])";

void queue_done(struct redis_conn *c, const char *worker,
		const struct queue_job *job)
{
	char processing[512], pending[256];

	key_of(c, processing, sizeof(processing), "processing", worker);
	plain_key(c, pending, sizeof(pending), "pending");
	redis_reply_free(redis_command(c, "EVAL %s 2 %s %s %s %s", end_lua,
				       processing, pending, job->raw, job->name));
}

/* Takes a job out of a processing list and files what follows of it, in
 * one step: a job is never both lost and never twice. */
static const char move_lua[] =
	"redis.call('lrem',KEYS[1],1,ARGV[1]) "
	"return redis.call('lpush',KEYS[2],ARGV[2])";

void queue_fail(struct redis_conn *c, const char *worker,
		const struct queue_job *job, const struct err *why,
		int max_attempts)
{
	char processing[512], queue[256], dead[256], pending[256], next[1024];

	key_of(c, processing, sizeof(processing), "processing", worker);
	plain_key(c, queue, sizeof(queue), "queue");
	plain_key(c, dead, sizeof(dead), "dead");
	plain_key(c, pending, sizeof(pending), "pending");
	/* Errors that no retry can mend (a bad name, no original, not an
	 * image) go to the dead letters at once. */
	int permanent = why->code == ERR_BAD_REQUEST || why->code == ERR_NOT_FOUND ||
			why->code == ERR_UNPROCESSABLE || why->code == ERR_FORMAT ||
			why->code == ERR_TOO_LARGE || why->code == ERR_FORBIDDEN ||
			why->code == ERR_CONFLICT || why->code == ERR_METHOD;

	/* An overload (ERR_BUSY) is no fault of the job's: retried without
	 * counting an attempt. */
	int busy = why->code == ERR_BUSY;

	if (busy || (!permanent && job->attempts + 1 < max_attempts)) {
		/* Retried after the jobs queued meanwhile: at the far end
		 * (jobs are taken from the right). */
		snprintf(next, sizeof(next), "%d %d %s",
			 job->attempts + (busy ? 0 : 1), job->force, job->name);
		redis_reply_free(redis_command(c, "EVAL %s 2 %s %s %s %s", move_lua,
				      processing, queue, job->raw, next));
	} else {
		snprintf(next, sizeof(next), "%d %d %s | %s: %s", job->attempts + 1,
			 job->force, job->name, err_name(why->code), why->msg);
		redis_reply_free(redis_command(c, "EVAL %s 3 %s %s %s %s %s %s",
					       end_lua, processing, pending, dead,
					       job->raw, job->name, next));
		log_error("queue: %s failed (attempt %d), moved to %s: %s",
			  job->name, job->attempts + 1, dead, why->msg);
	}
}

void queue_heartbeat(struct redis_conn *c, const char *worker, int ttl_ms)
{
	char key[512], workers[256];

	key_of(c, key, sizeof(key), "worker", worker);
	plain_key(c, workers, sizeof(workers), "workers");
	redis_reply_free(redis_command(c, "SET %s 1 PX %d", key, ttl_ms));
	redis_reply_free(redis_command(c, "SADD %s %s", workers, worker));
}

/* For one worker: if its heartbeat is gone, every job of its processing
 * list goes back to the queue (taken next) and it leaves the set; in one
 * step, so a worker that comes back meanwhile is never robbed. */
static const char recover_lua[] =
	"if redis.call('exists',KEYS[1]) == 1 then return -1 end "
	"local n = 0 "
	"while redis.call('lmove',KEYS[2],KEYS[3],'RIGHT','RIGHT') do n = n + 1 end "
	"redis.call('srem',KEYS[4],ARGV[1]) "
	"return n";

long queue_recover(struct redis_conn *c)
{
	char workers[256], queue[256], beat[512], list[512];
	redisReply *members;
	long moved = 0;

	plain_key(c, workers, sizeof(workers), "workers");
	plain_key(c, queue, sizeof(queue), "queue");
	members = redis_command(c, "SMEMBERS %s", workers);
	if (members == NULL)
		return -1;
	for (size_t i = 0; members->type == REDIS_REPLY_ARRAY && i < members->elements; i++) {
		const char *w = members->element[i]->str;
		redisReply *rep;

		key_of(c, beat, sizeof(beat), "worker", w);
		key_of(c, list, sizeof(list), "processing", w);
		rep = redis_command(c, "EVAL %s 4 %s %s %s %s %s", recover_lua,
				       beat, list, queue, workers, w);
		if (rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0) {
			if (rep->integer > 0)
				log_warn("queue: worker %s is gone; %lld job(s) back in "
					 "the queue", w, rep->integer);
			moved += (long)rep->integer;
		}
		redis_reply_free(rep);
	}
	redis_reply_free(members);
	return moved;
}

void queue_leave(struct redis_conn *c, const char *worker)
{
	char beat[512], list[512], queue[256], workers[256];

	key_of(c, beat, sizeof(beat), "worker", worker);
	key_of(c, list, sizeof(list), "processing", worker);
	plain_key(c, queue, sizeof(queue), "queue");
	plain_key(c, workers, sizeof(workers), "workers");
	redis_reply_free(redis_command(c, "DEL %s", beat));
	/* As a recovery would, now that the heartbeat is gone. */
	redis_reply_free(redis_command(c, "EVAL %s 4 %s %s %s %s %s", recover_lua, beat,
			   list, queue, workers, worker));
}

static long length(struct redis_conn *c, const char *key)
{
	redisReply *rep = redis_command(c, "LLEN %s", key);
	long n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? (long)rep->integer
								 : -1;

	redis_reply_free(rep);
	return n;
}

void queue_counts(struct redis_conn *c, long *waiting, long *in_progress,
		  long *dead)
{
	char key[256], workers[256];
	redisReply *keys;

	plain_key(c, key, sizeof(key), "queue");
	*waiting = length(c, key);
	plain_key(c, key, sizeof(key), "dead");
	*dead = length(c, key);
	*in_progress = -1;
	plain_key(c, workers, sizeof(workers), "workers");
	keys = redis_command(c, "SMEMBERS %s", workers);
	if (keys != NULL && keys->type == REDIS_REPLY_ARRAY) {
		*in_progress = 0;
		for (size_t i = 0; i < keys->elements; i++) {
			char list[512];
			long n;
			key_of(c, list, sizeof(list), "processing",
				     keys->element[i]->str);
			n = length(c, list);
			*in_progress += n > 0 ? n : 0;
		}
	}
	redis_reply_free(keys);
}

/*
 * Removes the waiting jobs of the outputs of image ARGV[1] ("m/f/id/"
 * with its slash) from the queue, and their names from the pending set;
 * returns how many.  A job is "ATTEMPTS FORCE name".
 */
static const char drop_lua[] =
	"local n = 0 "
	"for _, job in ipairs(redis.call('lrange',KEYS[1],0,-1)) do "
	"  local name = string.match(job, '^%S+ %S+ (.*)$') "
	"  if name and string.sub(name, 1, #ARGV[1]) == ARGV[1] then "
	"    n = n + redis.call('lrem',KEYS[1],0,job) "
	"    redis.call('srem',KEYS[2],name) "
	"  end "
	"end "
	"return n";

long queue_drop_image(struct redis_conn *c, const char *image)
{
	char key[256], pending[256], prefix[400];
	redisReply *rep;
	long n = -1;

	plain_key(c, key, sizeof(key), "queue");
	plain_key(c, pending, sizeof(pending), "pending");
	snprintf(prefix, sizeof(prefix), "%s/", image);
	rep = redis_command(c, "EVAL %s 2 %s %s %s", drop_lua, key, pending,
			    prefix);
	if (rep == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_INTEGER)
		n = (long)rep->integer;
	redis_reply_free(rep);
	return n;
}
