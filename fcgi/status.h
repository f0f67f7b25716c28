/*
 * status.h - the one table from lib error codes to HTTP statuses.
 * Thread-safety: pure functions.
 */
#ifndef IMGSRV_STATUS_H
#define IMGSRV_STATUS_H

#include "err.h"

struct http_status {
	int code;           /* 404 */
	const char *reason; /* "Not Found" */
};

/* The HTTP status that answers an error with code c. */
struct http_status status_for(enum err_code c);

/* The reason phrase of an HTTP status we answer with ("Created"). */
const char *status_reason(int code);

#endif
