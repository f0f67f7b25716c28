/*
 * post.h - the writes.
 * POST /{model}/{field}/{id}?outputs=...&source=URL[&force=1][&replace=1]:
 * store an original (from source= or the request body, Content-Type
 * image/...) and queue its outputs; answer 201 (200 if it was stored
 * already) with JSON as soon as the original is stored; with replace=1
 * the new original takes the old one's place and the old one's outputs
 * are purged (purge.h).  DELETE /{model}/{field}/{id}: purge the image,
 * 204 (404 when nothing was stored).  The parameters are policy.h's, the
 * queue jobs.h's.
 * Thread-safety: on the calling thread's own request and worker.
 */
#ifndef IMGSRV_POST_H
#define IMGSRV_POST_H

#include <fcgiapp.h>

#include "conf.h"
#include "err.h"
#include "output.h"

/*
 * Answers the POST in req for path with worker w.  On success writes the
 * response and returns its status; on error returns -1 with *e set, and
 * the caller answers it.
 */
int post_serve(struct output_worker *w, unsigned formats_available,
	       FCGX_Request *req, const char *path, const struct conf *c,
	       struct err *e);

/* Answers the DELETE in req for path as post_serve() answers a POST. */
int delete_serve(struct output_worker *w, FCGX_Request *req, const char *path,
		 struct err *e);

#endif
