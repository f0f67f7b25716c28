/* handler.c - route a request, get the output, write the response. */
#include "handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "status.h"

/* Outputs never change once made: let every cache keep them for a year. */
#define CACHE_FOREVER "public, max-age=31536000, immutable"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

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

/* A copy of s safe to log: no control characters to forge log lines. */
static void log_safe(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		buf[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
}

/*
 * Headers are formatted with snprintf and written with FCGX_PutStr:
 * libfcgi's own printf knows no %zu and would send garbage.
 */
static void put_headers(FCGX_Request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put_headers(FCGX_Request *req, const char *fmt, ...)
{
	char head[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (n > 0)
		FCGX_PutStr(head, n < (int)sizeof(head) ? n : (int)sizeof(head) - 1,
			    req->out);
}

static void respond_error(struct handler *h, FCGX_Request *req,
			  const struct err *e, int head)
{
	struct http_status st = status_for(e->code);
	const char *msg = e->msg;

	/* In production a bug's details go to the log, not to strangers. */
	if (e->code == ERR_INTERNAL &&
	    strcmp(h->server->conf->env, "production") == 0)
		msg = "internal error";
	put_headers(req,
		    "Status: %d %s\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Cache-Control: no-store\r\n"
		    "Content-Length: %zu\r\n"
		    "%s%s\r\n",
		    st.code, st.reason, strlen(msg) + 1,
		    e->code == ERR_METHOD ? "Allow: GET, HEAD\r\n" : "",
		    e->code == ERR_BUSY ? "Retry-After: 5\r\n" : "");
	if (!head) {
		FCGX_PutS(msg, req->out);
		FCGX_PutS("\n", req->out);
	}
}

static void respond_image(FCGX_Request *req, const struct url_request *r,
			  const struct buf *b, enum output_how how, int head)
{
	put_headers(req,
		    "Status: 200 OK\r\n"
		    "Content-Type: %s\r\n"
		    "Content-Length: %zu\r\n"
		    "Cache-Control: " CACHE_FOREVER "\r\n"
		    "X-Image-Server: %s\r\n\r\n",
		    url_format_mime(r->format), b->len, output_how_name(how));
	if (!head)
		FCGX_PutStr((const char *)b->data, (int)b->len, req->out);
}

/* Checks what the configuration allows of a parsed request. */
static int check_allowed(const struct server *s, const struct url_request *r,
			 struct err *e)
{
	if (!s->format_enabled[r->format])
		return err_set(e, ERR_FORMAT, "output format '%s' is not enabled",
			       url_format_ext(r->format));
	if ((int)r->width > s->conf->maximum_width)
		return err_set(e, ERR_TOO_LARGE, "width %u is over the maximum of %d",
			       r->width, s->conf->maximum_width);
	if ((int)r->height > s->conf->maximum_height)
		return err_set(e, ERR_TOO_LARGE,
			       "height %u is over the maximum of %d", r->height,
			       s->conf->maximum_height);
	return 0;
}

void handler_serve(struct handler *h, FCGX_Request *req)
{
	const char *method = param(req, "REQUEST_METHOD");
	int head = strcmp(method, "HEAD") == 0;
	enum output_how how = OUTPUT_MADE;
	struct url_request r;
	struct err e;
	struct buf out;
	char path[600], shown[200];
	double start = now_ms();
	int status;

	err_clear(&e);
	buf_init(&out);
	request_path(req, path, sizeof(path));
	if (!head && strcmp(method, "GET") != 0)
		err_set(&e, ERR_METHOD, "method %s is not allowed: use GET or HEAD",
			method);
	else if (url_parse(path, &r, &e) == 0 && check_allowed(h->server, &r, &e) == 0)
		(void)output_get(h->worker, &r, &out, &how, &e);

	if (e.code == ERR_NONE) {
		respond_image(req, &r, &out, how, head);
		status = 200;
	} else {
		respond_error(h, req, &e, head);
		status = status_for(e.code).code;
	}
	log_safe(path, shown, sizeof(shown));
	if (e.code == ERR_NONE)
		log_info("%s %s %d %zu %.1fms %s", method, shown, status, out.len,
			 now_ms() - start, output_how_name(how));
	else
		log_msg(status >= 500 ? LOG_ERROR : LOG_INFO,
			"%s %s %d 0 %.1fms refused: %s", method, shown, status,
			now_ms() - start, e.msg);
	buf_release(&out);
}
