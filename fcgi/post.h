/*
 * post.h - POST /{model}/{field}/{id}?outputs=...&source=URL[&force=1]:
 * store an original (from source= or the request body, Content-Type
 * image/...) and queue its outputs; answer 201 (200 if it was stored
 * already) with JSON as soon as the original is stored.
 * Thread-safety: as handler.h.
 */
#ifndef IMGSRV_POST_H
#define IMGSRV_POST_H

#include <fcgiapp.h>

#include "handler.h"

/*
 * Answers the POST in req for path.  On success writes the response and
 * returns its status; on error returns -1 with *e set, and the caller
 * answers it.
 */
int post_serve(struct handler *h, FCGX_Request *req, const char *path,
	       const struct conf *c, struct err *e);

#endif
