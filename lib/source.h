/*
 * source.h - fetch originals from the configured source.
 *
 * The source is a URL template with {model}, {field} and {id}
 * placeholders: "file:///srv/originals/{model}/{id}.jpg" is read from
 * disk, "http(s)://..." is fetched with libcurl (http and https only, for
 * the first request and every redirect; connect and total timeouts; a byte
 * cap enforced while streaming).  curl_global_init() must have been called
 * before threads start.  Thread-safety: one struct source per thread.
 */
#ifndef IMGSRV_SOURCE_H
#define IMGSRV_SOURCE_H

#include <curl/curl.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

struct source_opts {
	const char *tmpl;       /* URL template; empty: no source */
	long connect_timeout_ms;
	long timeout_ms;        /* whole transfer */
	size_t max_bytes;       /* larger originals are refused */
	long max_redirects;
	/* For URLs from strangers (POST source=): every address connected to,
	 * first and after each redirect, must be public unless allowed. */
	int guard;
	int allow_private;      /* loopback, private, link-local allowed */
	const char *allowed;    /* "host,https://prefix/,..." always allowed */
};

struct source;
struct conf;

/* The source options that configuration c sets (no guard); o points into
 * c, which must outlive it. */
void source_opts_from_conf(struct source_opts *o, const struct conf *c);

/* Makes a fetcher (it keeps a connection for reuse).  Returns NULL when
 * out of memory. */
struct source *source_new(void);

/* Frees s; source_free(NULL) is a no-op. */
void source_free(struct source *s);

/*
 * Expands the template for (model, field, id) into buf.  The arguments must
 * already be valid URL names (url_valid_name/url_valid_id): they are
 * inserted verbatim.  Returns 0, or -1 with ERR_INTERNAL if it is too long.
 */
int source_expand(const char *tmpl, const char *model, const char *field,
		  const char *id, char *buf, size_t size, struct err *e);

/*
 * Fetches the original for (model, field, id) into out (which must be
 * empty), as *o says (read for this call only, so it may change between
 * calls).  Returns 0, or -1 with:
 *   ERR_NOT_FOUND      no source configured, no such file, HTTP 404 or 410
 *   ERR_UNPROCESSABLE  larger than max_bytes
 *   ERR_TIMEOUT        the source was too slow
 *   ERR_SOURCE         any other answer, or the source is unreachable
 *   ERR_FORBIDDEN      (guard) an address that is not public and not allowed
 * On error out is left empty.
 */
int source_fetch(struct source *s, const struct source_opts *o,
		 const char *model, const char *field, const char *id,
		 struct buf *out, struct err *e);

/* A transfer's body, capped while it streams (for callers that run their
 * own transfers, such as a multi handle). */
struct source_sink {
	struct buf *out;
	size_t max;
	int over;   /* the body passed max */
	int oom;    /* memory ran out */
	CURL *curl;
};

/*
 * Resets h and sets what every transfer from a source shares: url, http
 * and https only (redirects too), -max_redirects, the timeouts, no
 * signals, the byte cap from Content-Length and while streaming (into k,
 * which appends to out), and curl's message into errbuf
 * (CURL_ERROR_SIZE bytes).  k and errbuf must outlive the transfer.
 */
void source_easy_setup(CURL *h, const struct source_opts *o, const char *url,
		       struct source_sink *k, struct buf *out, char *errbuf);

/* Fetches url itself (http or https only) into out, as source_fetch(). */
int source_fetch_url(struct source *s, const struct source_opts *o,
		     const char *url, struct buf *out, struct err *e);

/*
 * 1 if url matches an entry of allowed ("host,https://prefix/,...", as
 * -allowed_sources): a host name, compared without regard to case with
 * url's host; or a URL prefix: the same scheme, host and port, and a path
 * that starts with the prefix's path, both compared as the server will
 * see them (dot segments removed, then percent-decoded).  A url whose
 * path holds an encoded dot, slash or backslash matches no prefix.
 */
int source_url_allowed(const char *allowed, const char *url);

/* Returns 1 if the numeric address ip (v4 or v6) is loopback, private,
 * link-local (cloud metadata), unspecified, multicast or otherwise not a
 * public unicast address; else 0. */
int source_ip_private(const char *ip);

#endif
