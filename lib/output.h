/*
 * output.h - get an output: from the store, or made from the original,
 * once, however many ask for it at the same moment.
 *
 * The core of a miss: look in the store; else take the work (in-process
 * single flight, then the Redis lock across processes and hosts), load the
 * original (store, else source, kept in the store under its own lock),
 * make the output with image_make(), write it into the store atomically
 * and record it in Redis.  Who finds the work taken waits for the maker
 * and serves its result from the store, or its error.  Used alike by the
 * responder and the command-line tools.
 * Thread-safety: one struct output_env per process, shared (internally
 * locked); one struct output_worker per thread, which takes a snapshot of
 * the configuration at the start of each call.
 */
#ifndef IMGSRV_OUTPUT_H
#define IMGSRV_OUTPUT_H

#include "buf.h"
#include "sniff.h"
#include "conf.h"
#include "err.h"
#include "url.h"

enum output_how {
	OUTPUT_MADE,   /* made now by this worker */
	OUTPUT_STORE,  /* already in the store */
	OUTPUT_WAITED  /* made meanwhile by another worker we waited for */
};

/* A short word for how: "made", "store", "waited". */
const char *output_how_name(enum output_how how);

struct output_env;
struct output_worker;

/* The shared state for conf c (which must outlive it): Redis registry,
 * single flight.  Returns NULL with a message on error. */
struct output_env *output_env_new(const struct conf *c, struct err *e);
void output_env_free(struct output_env *env); /* NULL is a no-op */

/*
 * Swaps in configuration c (a reload) for the calls that start after it;
 * calls in flight keep the one they started with.  Both must stay valid
 * until the process ends.  The options that need a restart (conf.h) are
 * not applied: Redis and the store keep what they started with.
 */
void output_env_set_conf(struct output_env *env, const struct conf *c);

/* The configuration in force now. */
const struct conf *output_env_conf(struct output_env *env);

/* Redis as the workers last found it: "off", "up" or "down". */
const char *output_env_redis_state(struct output_env *env);

/* Makes a worker for one thread.  Returns NULL when out of memory. */
struct output_worker *output_worker_new(struct output_env *env);

/* Frees w; output_worker_free(NULL) is a no-op. */
void output_worker_free(struct output_worker *w);

/* The configuration in force now, as seen from worker w. */
const struct conf *output_env_conf_of(struct output_worker *w);

/* The worker's own Redis connection (for the queue, in the same thread). */
struct redis_conn *output_worker_redis(struct output_worker *w);

/*
 * Appends the bytes of output r to out and says how they were had.
 * Returns 0, or -1 with the error from the step that failed (see err.h):
 * ERR_NOT_FOUND, ERR_UNPROCESSABLE, ERR_SOURCE, ERR_TIMEOUT, ERR_BUSY,
 * ERR_STORAGE_FULL or ERR_INTERNAL.  Nothing partial is left in the store.
 */
int output_get(struct output_worker *w, const struct url_request *r,
	       struct buf *out, enum output_how *how, struct err *e);

/* Appends the bytes of output r to out if it is in the store and
 * returns 0; else -1, and nothing is made. */
int output_stored(struct output_worker *w, const struct url_request *r,
		  struct buf *out);

/*
 * Reads the original of (model, field, id) from the store, or fetches it
 * from the source, checks it (format, limits) and keeps it in the store.
 * Appends its bytes to out; returns 0 or -1 as output_get().
 */
int output_original(struct output_worker *w, const char *model,
		    const char *field, const char *id, struct buf *out,
		    struct err *e);

/*
 * The make-once protocol, for a caller that makes a store file itself
 * (images fetch downloads originals on its own curl multi handle);
 * output_get() and output_original() run the same steps within.
 *
 * output_claim() looks in the store, then takes the work on file of
 * (model, field, id) across processes and hosts (the Redis lock), then
 * looks in the store once more.  Returns 0 with *rc:
 *   OUTPUT_CLAIM_MINE    the work is ours (*claim set): make the bytes,
 *                        then output_commit() or output_abort();
 *   OUTPUT_CLAIM_STORED  the file is in the store;
 *   OUTPUT_CLAIM_HELD    another worker is making it: ask again later;
 * or -1 with the error that other worker failed with (its error key), or
 * a path error.  While Redis is down the work is always ours.
 */
enum output_claim_rc {
	OUTPUT_CLAIM_MINE,
	OUTPUT_CLAIM_STORED,
	OUTPUT_CLAIM_HELD
};
struct output_claim;

int output_claim(struct output_worker *w, const char *model,
		 const char *field, const char *id, const char *file,
		 enum output_claim_rc *rc, struct output_claim **claim,
		 struct err *e);

/*
 * Keeps data as the claimed file: an original must pass the checks on
 * originals (format, limits); written atomically, recorded in Redis, the
 * claim let go of and freed.  An original is only ever created: if one
 * appeared meanwhile (put there without the lock, while Redis was down),
 * it is kept and data dropped.  Returns 0, or -1 with the error, which
 * is also left for the workers waiting on it.
 */
int output_commit(struct output_worker *w, struct output_claim *claim,
		  const void *data, size_t len, struct err *e);

/* Lets go of the claim and frees it, leaving why (unless NULL: e.g. a
 * retry will follow) for the workers waiting on it.  NULL is a no-op. */
void output_abort(struct output_worker *w, struct output_claim *claim,
		  const struct err *why);

/* What output_put_original() found and did. */
struct output_original_info {
	struct sniff_info sniff;
	unsigned width, height; /* as shown, after EXIF orientation */
	char sha256[65];        /* of the bytes, hex */
	int existed;            /* the same bytes were stored already */
};

/*
 * Stores data as the original of (model, field, id), given by a client:
 * checked as the source's originals are, then created (never replaced)
 * under the original's lock, as output_original() fetches it, and
 * recorded in Redis.  While another worker holds that lock (a GET
 * fetching the original from the source), it waits up to -wait_timeout
 * for it.  If an original is stored already, the same bytes are fine
 * (info->existed = 1) and different ones are refused with ERR_CONFLICT:
 * outputs made from it may be cached anywhere, so an id never changes.
 * Returns 0, or -1 with ERR_UNPROCESSABLE, ERR_CONFLICT, ERR_BUSY,
 * ERR_STORAGE_FULL or ERR_INTERNAL.
 */
int output_put_original(struct output_worker *w, const char *model,
			const char *field, const char *id, const void *data,
			size_t len, struct output_original_info *info,
			struct err *e);

/*
 * Fetches a client-given URL (POST source=) with the guard on: http(s)
 * only, public addresses only unless -allowed_sources or
 * -allow_private_sources say otherwise, byte cap and timeouts as for the
 * source.  At most -post_fetches run at once in the process; one more
 * waits up to a second for its turn, then fails with ERR_BUSY.  Other
 * errors as source_fetch_url().
 */
int output_fetch_url(struct output_worker *w, const char *url,
		     struct buf *out, struct err *e);

/*
 * Checks data as an original (format, limits: gate_original()) and fills
 * info (existed 0), without storing it.  Returns 0 or -1 with the error.
 */
int output_check_original(struct output_worker *w, const void *data,
			  size_t len, struct output_original_info *info,
			  struct err *e);

/*
 * Runs fn(w, arg, e) as the one writer of the original of (model, field,
 * id): in this process the leader of its single flight, across processes
 * and hosts the holder of its Redis lock (none while Redis is off or
 * down), waiting up to -wait_timeout for another holder.  Returns fn's
 * result, or -1 with ERR_BUSY when the original stayed busy.
 */
int output_locked(struct output_worker *w, const char *model,
		  const char *field, const char *id,
		  int (*fn)(struct output_worker *w, void *arg, struct err *e),
		  void *arg, struct err *e);

/*
 * Raises the generation of image ("model/field/id"), which a purge or a
 * replacement does before it removes files and again after: every make
 * of that image begun before the raise then keeps nothing (and is made
 * again from what the store or source has then), on every host that
 * shares the Redis.  Without Redis it counts for this process only.
 * Returns the new generation (>= 1), or -1 with ERR_BUSY while Redis is
 * down.
 */
long long output_next_generation(struct output_worker *w, const char *image,
				 struct err *e);

#endif
