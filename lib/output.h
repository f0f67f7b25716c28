/*
 * output.h - get an output: from the store, or made from the original.
 *
 * The core of a miss: look in the store; else load the original (store,
 * else source, which is then kept in the store), make the output with
 * image_make() and write it into the store atomically.  Used alike by the
 * responder and the command-line tools.
 * Thread-safety: one struct output_worker per thread; the conf it points
 * to must stay unchanged while it is used.
 */
#ifndef IMGSRV_OUTPUT_H
#define IMGSRV_OUTPUT_H

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "url.h"

enum output_how {
	OUTPUT_MADE,  /* made now by this worker */
	OUTPUT_STORE  /* already in the store */
};

struct output_worker;

/* Makes a worker for one thread.  Returns NULL when out of memory. */
struct output_worker *output_worker_new(const struct conf *c);

/* Frees w; output_worker_free(NULL) is a no-op. */
void output_worker_free(struct output_worker *w);

/*
 * Appends the bytes of output r to out and says how they were had.
 * Returns 0, or -1 with the error from the step that failed (see err.h):
 * ERR_NOT_FOUND, ERR_UNPROCESSABLE, ERR_SOURCE, ERR_TIMEOUT,
 * ERR_STORAGE_FULL or ERR_INTERNAL.  Nothing partial is left in the store.
 */
int output_get(struct output_worker *w, const struct url_request *r,
	       struct buf *out, enum output_how *how, struct err *e);

/*
 * Reads the original of (model, field, id) from the store, or fetches it
 * from the source, checks it (format, limits) and keeps it in the store.
 * Appends its bytes to out; returns 0 or -1 as output_get().
 */
int output_original(struct output_worker *w, const char *model,
		    const char *field, const char *id, struct buf *out,
		    struct err *e);

#endif
