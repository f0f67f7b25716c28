/*
 * respond.h - write a FastCGI response: headers, an image, a page, an
 * error (its status from status.h's table, one line of text).
 * Thread-safety: on the calling thread's own request.
 */
#ifndef IMGSRV_RESPOND_H
#define IMGSRV_RESPOND_H

#include <fcgiapp.h>

#include "buf.h"
#include "conf.h"
#include "err.h"
#include "output.h"
#include "url.h"

/* Writes printf-formatted headers (libfcgi's own printf knows no %zu). */
void respond_headers(FCGX_Request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Answers error e: its status, "Cache-Control: no-store", Allow for 405,
 * Retry-After for 503, WWW-Authenticate for 401, and the message as a
 * one-line body (a 403 says only "forbidden", and in production our own
 * failures' details stay in the log too).  head: headers only.
 */
void respond_error(FCGX_Request *req, const struct conf *c,
		   const struct err *e, int head);

/* Answers 200 with output b of r, cached for a year; X-Image-Server says
 * how it was had. */
void respond_image(FCGX_Request *req, const struct url_request *r,
		   const struct buf *b, enum output_how how, int head);

/* Answers status with a page of type, len bytes at data (not cached). */
void respond_page(FCGX_Request *req, int status, const char *type,
		  const void *data, size_t len, int head);

#endif
