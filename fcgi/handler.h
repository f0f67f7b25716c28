/*
 * handler.h - answer one FastCGI request: route it (an output, POST,
 * /status, /metrics), answer, count and log it.
 * Thread-safety: one struct handler per thread; the shared struct server
 * is read-only while requests run.
 */
#ifndef IMGSRV_HANDLER_H
#define IMGSRV_HANDLER_H

#include <fcgiapp.h>

#include "output.h"

/* What every thread shares: set up before threads start, then read-only
 * (the configuration itself is swapped inside env on a reload). */
struct server {
	struct output_env *env;
	unsigned formats_available; /* 1 << enum url_format MagickCore encodes */
};

struct handler {
	const struct server *server;
	struct output_worker *worker;
};

/* Answers req (accepted with FCGX_Accept_r) completely. */
void handler_serve(struct handler *h, FCGX_Request *req);

#endif
