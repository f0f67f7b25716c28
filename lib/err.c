/* err.c - the error value shared by every lib module. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

void err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_NONE;
	e->msg[0] = '\0';
}

const char *err_name(enum err_code code)
{
	switch (code) {
	case ERR_NONE: return "none";
	case ERR_BAD_REQUEST: return "bad_request";
	case ERR_NOT_FOUND: return "not_found";
	case ERR_METHOD: return "method";
	case ERR_TOO_LARGE: return "too_large";
	case ERR_FORMAT: return "format";
	case ERR_UNPROCESSABLE: return "unprocessable";
	case ERR_SOURCE: return "source";
	case ERR_TIMEOUT: return "timeout";
	case ERR_STORAGE_FULL: return "storage_full";
	case ERR_BUSY: return "busy";
	case ERR_FORBIDDEN: return "forbidden";
	case ERR_CONFLICT: return "conflict";
	case ERR_INTERNAL: return "internal";
	case ERR_UNAUTHORIZED: return "unauthorized";
	case ERR_COUNT: break;
	}
	return "unknown";
}
