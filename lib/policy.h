/*
 * policy.h - what a client may ask for: which methods, which outputs
 * (formats enabled, sizes within the maxima), and the parameters of a
 * POST.  The URL grammar itself is url.h's; this is what the
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
	POLICY_OTHER /* answered 405 */
};

/* The method of a request ("GET"...). */
enum policy_method policy_method(const char *name);

/* The Allow header's list of the methods we answer. */
#define POLICY_ALLOW "GET, HEAD, POST"

/*
 * Checks what configuration c allows of a parsed output: the format is
 * enabled and encodable here (formats_available, a mask of 1 << enum
 * url_format; else ERR_FORMAT, 415), the sides within -maximum_width and
 * -maximum_height (else ERR_TOO_LARGE, 406).  Returns 0 or -1.
 */
int policy_check_output(const struct conf *c, unsigned formats_available,
			const struct url_request *r, struct err *e);

/* A POST /{model}/{field}/{id}?outputs=...&source=...&force=1. */
struct policy_post {
	char model[URL_NAME_MAX + 1], field[URL_NAME_MAX + 1], id[URL_ID_MAX + 1];
	char source[2048]; /* percent-decoded; empty: none */
	int force;
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

#endif
