/*
 * policy.h - what a client may ask for: which methods, which outputs
 * (formats enabled, sizes within the maxima), which misses may be made
 * (-sizes, signed URLs), who may write (-api_key), and the parameters of
 * a POST.  The URL grammar itself is url.h's; this is what the
 * configuration allows of a well-formed request.  No I/O.
 * Thread-safety: pure functions.
 */
#ifndef IMGSRV_POLICY_H
#define IMGSRV_POLICY_H

#include "conf.h"
#include "err.h"
#include "url.h"

#define POLICY_MAX_OUTPUTS 32 /* outputs one POST may ask for */

enum policy_method {
	POLICY_GET,
	POLICY_HEAD,
	POLICY_POST,
	POLICY_DELETE, /* a write: the API key is checked (a purge) */
	POLICY_OTHER /* answered 405 */
};

/* The method of a request ("GET"...). */
enum policy_method policy_method(const char *name);

/* The Allow header's list of the methods we answer. */
#define POLICY_ALLOW "GET, HEAD, POST, DELETE"

/*
 * Checks what configuration c allows of a parsed output: the format is
 * enabled and encodable here (formats_available, a mask of 1 << enum
 * url_format; else ERR_FORMAT, 415), the sides within -maximum_width and
 * -maximum_height (else ERR_TOO_LARGE, 406).  Returns 0 or -1.
 */
int policy_check_output(const struct conf *c, unsigned formats_available,
			const struct url_request *r, struct err *e);

/*
 * Checks that a write (POST, DELETE) may be done: with -api_key set, the
 * Authorization header (authorization; NULL when there is none) must be
 * "Bearer KEY", compared in constant time.  Returns 0, or -1 with
 * ERR_UNAUTHORIZED.
 */
int policy_check_write(const struct conf *c, const char *authorization,
		       struct err *e);

/*
 * Checks that a miss of r may be made: with -sizes, r's spec is listed;
 * with -signing_key, query (the query string, NULL when none) has sig=,
 * the signature (sign.h) of path under -signing_key or -signing_key_old;
 * with both, either is enough; with neither, any miss may be made.
 * Returns 0, or -1 with ERR_FORBIDDEN and a message for the log (the
 * client is told less).
 */
int policy_check_miss(const struct conf *c, const struct url_request *r,
		      const char *path, const char *query, struct err *e);

/* 1 if spec ("w500", "x100-q50") is in the -sizes list sizes. */
int policy_size_listed(const char *sizes, const char *spec);

/* A POST /{model}/{field}/{id}?outputs=...&source=...&force=1&replace=1,
 * or a DELETE /{model}/{field}/{id} (the id alone). */
struct policy_post {
	char model[URL_NAME_MAX + 1], field[URL_NAME_MAX + 1], id[URL_ID_MAX + 1];
	char source[2048]; /* percent-decoded; empty: none */
	int force;
	int replace; /* the new original replaces the stored one */
	int noutputs;
	char outputs[POLICY_MAX_OUTPUTS][URL_FILE_MAX + 1]; /* no duplicates */
};

/*
 * Parses a POST's path and query string into *p and checks each output
 * as policy_check_output() does.  Returns 0, or -1 with ERR_BAD_REQUEST
 * (or the output's own error) and a message naming the bad part.
 */
int policy_parse_post(const struct conf *c, unsigned formats_available,
		      const char *path, const char *query,
		      struct policy_post *p, struct err *e);

/* Parses a DELETE's path (/{model}/{field}/{id}, no query) into p's
 * model, field and id.  Returns 0, or -1 with ERR_BAD_REQUEST. */
int policy_parse_delete(const char *path, const char *query,
			struct policy_post *p, struct err *e);

#endif
