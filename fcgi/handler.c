/* handler.c - route a request, get the output, answer, count and log. */
#include "handler.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "image.h"
#include "log.h"
#include "metrics.h"
#include "pages.h"
#include "policy.h"
#include "post.h"
#include "respond.h"
#include "stats.h"
#include "status.h"

static const char *param(FCGX_Request *req, const char *name)
{
	const char *v = FCGX_GetParam(name, req->envp);
	return v ? v : "";
}

/* Copies the request path without its query string into buf. */
static void request_path(FCGX_Request *req, char *buf, size_t size)
{
	const char *uri = param(req, "REQUEST_URI");
	size_t len;

	if (*uri == '\0')
		uri = param(req, "DOCUMENT_URI");
	len = strcspn(uri, "?");
	if (len >= size)
		len = size - 1; /* url_parse refuses it as too long */
	memcpy(buf, uri, len);
	buf[len] = '\0';
}

/*
 * A GET or HEAD of an output: parsed, checked, then from the store, or
 * made when the policy lets this miss be made (-sizes, -signing_key).
 */
static int get_output(struct handler *h, const struct conf *c,
		      FCGX_Request *req, const char *path,
		      struct url_request *r, struct buf *out,
		      enum output_how *how, struct err *e)
{
	if (url_parse(path, r, e) < 0 ||
	    policy_check_output(c, h->server->formats_available, r, e) < 0)
		return -1;
	if (policy_check_miss(c, r, path, param(req, "QUERY_STRING"), e) < 0) {
		/* A hit needs no signature: this one reached us only because
		 * it was stored just after the web server looked. */
		if (output_stored(h->worker, r, out) < 0)
			return -1;
		err_clear(e);
		*how = OUTPUT_STORE;
		return 0;
	}
	if (output_get(h->worker, r, out, how, e) < 0) {
		stats_event("image_request_fail");
		return -1;
	}
	return 0;
}

void handler_serve(struct handler *h, FCGX_Request *req)
{
	const struct conf *c = output_env_conf(h->server->env);
	const char *method = param(req, "REQUEST_METHOD");
	enum policy_method m = policy_method(method);
	int head = m == POLICY_HEAD;
	enum output_how how = OUTPUT_MADE;
	struct url_request r;
	struct err e;
	struct buf out;
	char path[600];
	double start = clock_now_ms(), ms;
	int status;

	err_clear(&e);
	buf_init(&out);
	request_path(req, path, sizeof(path));
	stats_add(STAT_REQUESTS, 1);
	if ((m == POLICY_POST || m == POLICY_DELETE) &&
	    policy_check_write(c, FCGX_GetParam("HTTP_AUTHORIZATION", req->envp),
			       &e) < 0) {
		/* answered below: 401 */
	} else if (m == POLICY_POST) {
		status = post_serve(h->worker, h->server->formats_available,
				    req, path, c, &e);
		if (status > 0) {
			metrics_response(status);
			return; /* answered and logged */
		}
	} else if (m == POLICY_DELETE) {
		status = delete_serve(h->worker, req, path, &e);
		if (status > 0) {
			metrics_response(status);
			return; /* answered and logged */
		}
	} else if (m == POLICY_OTHER) {
		err_set(&e, ERR_METHOD, "method %s is not allowed: use %s",
			method, POLICY_ALLOW);
	} else if (strcmp(path, "/status") == 0) {
		pages_status(req, h->server->env, h->worker,
			     param(req, "QUERY_STRING"), head);
		log_info("%s /status 200", method);
		metrics_response(200);
		return;
	} else if (strcmp(path, "/metrics") == 0) {
		pages_metrics(req, h->server->env, h->worker, head);
		log_info("%s /metrics 200", method);
		metrics_response(200);
		return;
	} else {
		(void)get_output(h, c, req, path, &r, &out, &how, &e);
	}

	if (e.code == ERR_NONE) {
		respond_image(req, &r, &out, how, head);
		status = 200;
		stats_add(how == OUTPUT_MADE	   ? STAT_MADE
			  : how == OUTPUT_WAITED ? STAT_WAITED
						 : STAT_FROM_STORE,
			  1);
	} else {
		respond_error(req, c, &e, head);
		status = status_for(e.code).code;
		stats_add(status >= 500 ? STAT_FAILED : STAT_REFUSED, 1);
	}
	ms = clock_now_ms() - start;
	/* (log.h keeps control characters out of the line) */
	if (e.code == ERR_NONE)
		log_info("%s %.200s %d %zu %.1fms %s%s%s", method, path, status,
			 out.len, ms, how == OUTPUT_MADE ? image_decoder() : "",
			 how == OUTPUT_MADE && *image_decoder() ? " " : "",
			 output_how_name(how));
	else
		log_msg(status >= 500 ? LOG_ERROR : LOG_INFO,
			"%s %.200s %d 0 %.1fms refused: %s", method, path, status,
			ms, e.msg);
	if (e.code == ERR_NONE) {
		metrics_request(how == OUTPUT_MADE     ? METRICS_MADE
				: how == OUTPUT_WAITED ? METRICS_WAITED
						       : METRICS_STORE,
				status, (int)r.format, ms);
	} else {
		metrics_request(status >= 500 ? METRICS_FAILED : METRICS_REFUSED,
				status, METRICS_NONE, ms);
		metrics_error(path, status, e.msg);
	}
	buf_release(&out);
}
