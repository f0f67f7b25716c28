/*
 * pages.h - GET /status (JSON; ?format=html for a person) and GET
 * /metrics (Prometheus text): what the process has done and is doing.
 * Thread-safety: on the calling thread's own request and worker.
 */
#ifndef IMGSRV_PAGES_H
#define IMGSRV_PAGES_H

#include <fcgiapp.h>

#include "output.h"

/* Answers /status; query is the request's query string. */
void pages_status(FCGX_Request *req, struct output_env *env,
		  struct output_worker *w, const char *query, int head);

/* Answers /metrics. */
void pages_metrics(FCGX_Request *req, struct output_env *env,
		   struct output_worker *w, int head);

#endif
