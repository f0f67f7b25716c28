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

/*
 * Answers req (accepted with FCGX_Accept_r) completely: an output, or
 * GET /status (JSON; ?format=html for a person) and GET /metrics
 * (Prometheus text).
 */
void handler_serve(struct handler *h, FCGX_Request *req);

/* Writes printf-formatted headers (libfcgi's own printf knows no %zu). */
void handler_put_headers(FCGX_Request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Checks what the configuration allows of a parsed output: the format is
 * enabled (415), the sides within the maximum (406). */
int handler_check_allowed(const struct server *s, const struct conf *c,
			  const struct url_request *r, struct err *e);

#endif
