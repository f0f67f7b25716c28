/*
 * handler.h - answer one FastCGI request: route, make, respond, log.
 * Thread-safety: one struct handler per thread; the shared struct server
 * is read-only while requests run.
 */
#ifndef IMGSRV_HANDLER_H
#define IMGSRV_HANDLER_H

#include <fcgiapp.h>

#include "conf.h"
#include "output.h"
#include "url.h"

/* What every thread shares: set up before threads start, then read-only. */
struct server {
	const struct conf *conf;
	int format_enabled[URL_FMT_COUNT];
};

struct handler {
	const struct server *server;
	struct output_worker *worker;
};

/* Answers req (accepted with FCGX_Accept_r) completely. */
void handler_serve(struct handler *h, FCGX_Request *req);

#endif
