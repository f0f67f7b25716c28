/*
 * err.h - the error value every lib function fills in.
 *
 * Functions return 0 on success and -1 on failure; on failure they fill
 * the optional caller-supplied struct err (NULL is allowed) with a code
 * that the caller can act on and a one-line message for a person.
 * fcgi/ maps each code to one HTTP status.  Thread-safety: plain data.
 */
#ifndef IMGSRV_ERR_H
#define IMGSRV_ERR_H

enum err_code {
	ERR_NONE = 0,
	ERR_BAD_REQUEST,   /* malformed URL or parameter */
	ERR_NOT_FOUND,     /* original missing at the source */
	ERR_METHOD,        /* HTTP method not supported */
	ERR_TOO_LARGE,     /* requested output over maximum width/height */
	ERR_FORMAT,        /* output format not enabled */
	ERR_UNPROCESSABLE, /* original not an allowed image, or over limits */
	ERR_SOURCE,        /* source answered an error or is unreachable */
	ERR_TIMEOUT,       /* source too slow */
	ERR_STORAGE_FULL,  /* no space left in the store */
	ERR_BUSY,          /* overloaded, try again later */
	ERR_FORBIDDEN,     /* refused by policy: a source that may not be
			    * fetched, a size not listed, a bad signature */
	ERR_CONFLICT,      /* a different original is stored for that id */
	ERR_INTERNAL,      /* anything else: a bug or a broken environment */
	ERR_UNAUTHORIZED,  /* a write without a valid API key */
	ERR_COUNT          /* not a code: new codes go before it, and after
			    * the others, whose numbers Redis error keys and
			    * image-server(8) carry */
};

struct err {
	enum err_code code;
	char msg[256];
};

/* Sets *e (if not NULL) to code and a printf-formatted message; returns -1
 * so that callers can write `return err_set(e, ...);`. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Resets *e (if not NULL) to ERR_NONE and an empty message. */
void err_clear(struct err *e);

/* A short stable name for code, e.g. "bad_request" (for logs). */
const char *err_name(enum err_code code);

#endif
