/* respond.c - FastCGI response headers and bodies. */
#include "respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "status.h"

/* Outputs never change once made: let every cache keep them for a year. */
#define CACHE_FOREVER "public, max-age=31536000, immutable"

/*
 * Headers are formatted with snprintf and written with FCGX_PutStr:
 * libfcgi's own printf knows no %zu and would send garbage.
 */
void respond_headers(FCGX_Request *req, const char *fmt, ...)
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

void respond_error(FCGX_Request *req, const struct conf *c,
		   const struct err *e, int head)
{
	struct http_status st = status_for(e->code);
	const char *msg = e->msg;

	/* Why a request was refused (a private source's address, a size not
	 * listed, a signature) would teach a prober what to try next: the
	 * details go to the log only, in every environment. */
	if (e->code == ERR_FORBIDDEN)
		msg = "forbidden";
	/* In production the details of our own failures (paths, errno) go to
	 * the log, not to strangers. */
	if (strcmp(c->env, "production") == 0) {
		if (e->code == ERR_INTERNAL)
			msg = "internal error";
		else if (e->code == ERR_STORAGE_FULL)
			msg = "the store is full";
	}
	respond_headers(req,
			"Status: %d %s\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n"
			"Cache-Control: no-store\r\n"
			"Content-Length: %zu\r\n"
			"%s%s%s\r\n",
			st.code, st.reason, strlen(msg) + 1,
			e->code == ERR_METHOD ? "Allow: " POLICY_ALLOW "\r\n" : "",
			e->code == ERR_BUSY ? "Retry-After: 5\r\n" : "",
			e->code == ERR_UNAUTHORIZED ? "WWW-Authenticate: Bearer\r\n"
						    : "");
	if (!head) {
		FCGX_PutS(msg, req->out);
		FCGX_PutS("\n", req->out);
	}
}

void respond_image(FCGX_Request *req, const struct url_request *r,
		   const struct buf *b, enum output_how how, int head)
{
	respond_headers(req,
			"Status: 200 OK\r\n"
			"Content-Type: %s\r\n"
			"Content-Length: %zu\r\n"
			"Cache-Control: " CACHE_FOREVER "\r\n"
			"X-Image-Server: %s\r\n\r\n",
			url_format_mime(r->format), b->len, output_how_name(how));
	if (!head)
		FCGX_PutStr((const char *)b->data, (int)b->len, req->out);
}

void respond_page(FCGX_Request *req, int status, const char *type,
		  const void *data, size_t len, int head)
{
	respond_headers(req,
			"Status: %d %s\r\n"
			"Content-Type: %s\r\n"
			"Content-Length: %zu\r\n"
			"Cache-Control: no-store\r\n\r\n",
			status, status_reason(status), type, len);
	if (!head)
		FCGX_PutStr(data, (int)len, req->out);
}
