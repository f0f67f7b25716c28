/*
 * purge.h - remove an image's original and every output made from it, or
 * replace its original and remove the outputs of the old one.
 *
 * A purge raises the image's generation (output.h), removes the files of
 * its store directory (the store is the truth: what is there goes, listed
 * or not in Redis), raises the generation again, waits for the makes of
 * the image under way to end (each finds its image purged and keeps
 * nothing), then clears the Redis record (outputs set, error keys, jobs
 * waiting in the queue), publishes the URL paths removed on
 * {prefix}purged and runs -purge_hook with them.  Every step may be done
 * again: a purge cut short (kill -9, Redis going away) is finished by
 * running it again.  While Redis is configured but down nothing is done.
 * Thread-safety: as output.h (one output_worker per thread).
 */
#ifndef IMGSRV_PURGE_H
#define IMGSRV_PURGE_H

#include <stddef.h>

#include "err.h"
#include "output.h"

struct purge_result {
	int found;     /* anything of the image was there (store or Redis) */
	long removed;  /* outputs removed from the store */
	long dropped;  /* queued jobs taken off the queue */
};

/*
 * Removes the original of (model, field, id) and every output of it.
 * Its waits (for the makes under way, for -purge_hook) take -wait_timeout
 * in all.  Returns 0 (res->found 0: there was nothing), or -1 with
 * ERR_BUSY (Redis down) or ERR_INTERNAL (the store), after which running
 * it again finishes it.
 */
int purge_image(struct output_worker *w, const char *model,
		const char *field, const char *id, struct purge_result *res,
		struct err *e);

/*
 * Stores data (checked already: output_check_original()) as the original
 * of (model, field, id) in place of the one there, if any, and removes
 * every output; no GET begun after it returns gets an output made from
 * the old original.  The original's lock may take -wait_timeout more.
 * Returns 0, or -1 as purge_image(), or ERR_BUSY when the original stayed
 * busy.
 */
int purge_replace(struct output_worker *w, const char *model,
		  const char *field, const char *id, const void *data,
		  size_t len, struct purge_result *res, struct err *e);

#endif
