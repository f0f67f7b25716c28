/* source.c - originals from file:// or http(s):// via libcurl. */
#include "source.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "store.h"

struct source {
	CURL *curl; /* kept between fetches for connection reuse */
};

void source_opts_from_conf(struct source_opts *o, const struct conf *c)
{
	memset(o, 0, sizeof(*o));
	o->tmpl = c->source;
	o->connect_timeout_ms = c->connect_timeout * 1000L;
	o->timeout_ms = c->source_timeout * 1000L;
	o->max_bytes = (size_t)c->max_source_bytes;
	o->max_redirects = c->max_redirects;
}

struct source *source_new(void)
{
	return calloc(1, sizeof(struct source));
}

void source_free(struct source *s)
{
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s);
}

int source_expand(const char *tmpl, const char *model, const char *field,
		  const char *id, char *buf, size_t size, struct err *e)
{
	static const char *const names[] = { "{model}", "{field}", "{id}" };
	const char *values[] = { model, field, id };
	size_t n = 0;

	while (*tmpl) {
		const char *piece = NULL;
		size_t skip = 1, plen = 1;

		for (int i = 0; i < 3; i++) {
			size_t l = strlen(names[i]);
			if (strncmp(tmpl, names[i], l) == 0) {
				piece = values[i], skip = l, plen = strlen(piece);
				break;
			}
		}
		if (piece == NULL)
			piece = tmpl;
		if (n + plen >= size)
			return err_set(e, ERR_INTERNAL, "source URL too long");
		memcpy(buf + n, piece, plen);
		n += plen;
		tmpl += skip;
	}
	buf[n] = '\0';
	return 0;
}

int source_ip_private(const char *ip)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, ip, a) == 1) {
		return a[0] == 0 || a[0] == 10 || a[0] == 127 ||
		       (a[0] == 100 && (a[1] & 0xc0) == 64) ||   /* 100.64/10 */
		       (a[0] == 169 && a[1] == 254) ||           /* metadata */
		       (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		       (a[0] == 192 && a[1] == 168) ||
		       (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
		       (a[0] == 198 && (a[1] & 0xfe) == 18) ||   /* benchmarks */
		       a[0] >= 224;                              /* multicast, reserved */
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
							  0, 0, 0xff, 0xff };
		static const unsigned char zero[15] = { 0 };
		static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
		char v4[INET_ADDRSTRLEN];

		/* IPv4 inside IPv6: mapped, NAT64 and 6to4 carry an address that
		 * is judged as itself. */
		if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
			inet_ntop(AF_INET, a + 12, v4, sizeof(v4));
			return source_ip_private(v4);
		}
		if (a[0] == 0x20 && a[1] == 0x02) {
			inet_ntop(AF_INET, a + 2, v4, sizeof(v4));
			return source_ip_private(v4);
		}
		return memcmp(a, zero, 15) == 0 ||      /* :: and ::1 */
		       (a[0] & 0xfe) == 0xfc ||         /* fc00::/7 */
		       (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || /* fe80::/10 */
		       a[0] == 0xff;                    /* multicast */
	}
	return 1; /* not an address we can judge: refuse */
}

/* A URL as the server it names will see it: scheme, host and port, and
 * the path with its dot segments removed, then percent-decoded. */
struct url_parts {
	char scheme[16];
	char host[256];
	char port[8];
	char path[2048];
};

/*
 * Removes the dot segments of path (which starts with '/') in place
 * (RFC 3986, 5.2.4), as curl does before it sends a path and as servers
 * do when they map one: "/pub/a/../b" is "/pub/b".
 */
static void remove_dot_segments(char *path)
{
	char *out = path;
	const char *in = path;
	int dir = 0; /* the last segment was "." or "..": end with '/' */

	while (*in == '/') {
		size_t n = strcspn(++in, "/");

		dir = (n == 1 && in[0] == '.') ||
		      (n == 2 && in[0] == '.' && in[1] == '.');
		if (n == 2 && dir) {
			while (out > path && *--out != '/')
				;
		} else if (!dir) {
			*out++ = '/';
			memmove(out, in, n);
			out += n;
		}
		in += n;
	}
	if (dir || out == path)
		*out++ = '/';
	*out = '\0';
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s in place; -1 for a malformed escape or a NUL. */
static int percent_decode(char *s)
{
	char *out = s;

	for (; *s != '\0'; s++) {
		int hi, lo;

		if (*s != '%') {
			*out++ = *s;
			continue;
		}
		if ((hi = hex_digit(s[1])) < 0 || (lo = hex_digit(s[2])) < 0 ||
		    hi + lo == 0)
			return -1;
		*out++ = (char)(hi * 16 + lo);
		s += 2;
	}
	*out = '\0';
	return 0;
}

/*
 * Splits url into *p.  Returns 0, or -1 when it cannot be parsed, or when
 * its path holds an encoded dot, slash or backslash (or a backslash):
 * such a path names one file to a prefix comparison and another to the
 * server that decodes it ("/pub/%2e%2e/secret.jpg" is "/secret.jpg").
 */
static int url_split(const char *url, struct url_parts *p)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	int rc = -1;

	if (u == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	if (path[0] != '/' || strcasestr(path, "%2e") != NULL ||
	    strcasestr(path, "%2f") != NULL || strcasestr(path, "%5c") != NULL ||
	    strchr(path, '\\') != NULL || strlen(path) >= sizeof(p->path))
		goto out;
	snprintf(p->scheme, sizeof(p->scheme), "%s", scheme);
	snprintf(p->host, sizeof(p->host), "%s", host);
	snprintf(p->port, sizeof(p->port), "%s", port);
	snprintf(p->path, sizeof(p->path), "%s", path);
	remove_dot_segments(p->path);
	/* Decoded after the dot segments go: no encoded dot or slash is
	 * left that decoding could turn into one. */
	if (percent_decode(p->path) < 0)
		goto out;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int source_url_allowed(const char *allowed, const char *url)
{
	char list[1024], *save = NULL;
	struct url_parts have;

	if (url_split(url, &have) < 0)
		return 0;
	snprintf(list, sizeof(list), "%s", allowed ? allowed : "");
	for (char *t = strtok_r(list, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		struct url_parts want;

		if (strstr(t, "://") == NULL) {
			if (strcasecmp(have.host, t) == 0)
				return 1;
			continue;
		}
		/* A prefix: the same server, and the path below its own, each
		 * as the server will see it. */
		if (url_split(t, &want) == 0 &&
		    strcasecmp(have.scheme, want.scheme) == 0 &&
		    strcasecmp(have.host, want.host) == 0 &&
		    strcmp(have.port, want.port) == 0 &&
		    strncmp(have.path, want.path, strlen(want.path)) == 0)
			return 1;
	}
	return 0;
}

struct guard {
	const struct source_opts *opts;
	CURL *curl;
	char refused[160]; /* why a connection was refused */
};

/* 1 if the guard lets ip be reached for the transfer's current URL. */
static int guard_allows(struct guard *g, const char *ip)
{
	char *url = NULL;

	if (g->opts->allow_private || !source_ip_private(ip))
		return 1;
	curl_easy_getinfo(g->curl, CURLINFO_EFFECTIVE_URL, &url);
	if (url != NULL && source_url_allowed(g->opts->allowed, url))
		return 1;
	snprintf(g->refused, sizeof(g->refused),
		 "source address %s is not public (see -allowed_sources)", ip);
	return 0;
}

/* Before a socket is made: a private address is never even connected to,
 * so the answers cannot map which private ports are open. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose,
				    struct curl_sockaddr *a)
{
	char ip[INET6_ADDRSTRLEN] = "";

	(void)purpose;
	if (a->family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, ip,
			  sizeof(ip));
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr,
			  ip, sizeof(ip));
	if (!guard_allows(arg, ip))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Before each request, redirects and reused connections too. */
static int on_connected(void *arg, char *ip, char *local_ip, int port,
			int local_port)
{
	(void)local_ip, (void)port, (void)local_port;
	return guard_allows(arg, ip) ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

/* The body of a transfer: kept only for a 200, and only up to k->max. */
static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct source_sink *k = arg;
	size_t n = size * nmemb;
	long code = 0;

	/* Error pages are not kept: only the status matters. */
	curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return n;
	if (k->out->len + n > k->max) {
		k->over = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (buf_append(k->out, p, n) < 0) {
		k->oom = 1;
		return 0;
	}
	return n;
}

void source_easy_setup(CURL *h, const struct source_opts *o, const char *url,
		       struct source_sink *k, struct buf *out, char *errbuf)
{
	k->out = out;
	k->max = o->max_bytes;
	k->over = k->oom = 0;
	k->curl = h;
	errbuf[0] = '\0';
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirects);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	/* No signals from libcurl in a threaded process (DNS timeouts). */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Refuse early when Content-Length already says too big; on_data
	 * enforces the cap on the bytes that do come. */
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "image-server");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
}

static int fetch_http(struct source *s, const struct source_opts *o,
		      const char *url, struct buf *out, struct err *e)
{
	struct source_sink k;
	struct guard g = { o, NULL, "" };
	char curl_err[CURL_ERROR_SIZE];
	CURLcode rc;
	long code = 0;

	if (s->curl == NULL && (s->curl = curl_easy_init()) == NULL)
		return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
	source_easy_setup(s->curl, o, url, &k, out, curl_err);
	if (o->guard) {
		g.curl = s->curl;
		/* Fail closed: without these the guard would be off. The
		 * environment's proxy would make the guard judge the proxy. */
		if (curl_easy_setopt(s->curl, CURLOPT_PROXY, "") != CURLE_OK ||
		    curl_easy_setopt(s->curl, CURLOPT_OPENSOCKETFUNCTION,
				     on_open_socket) != CURLE_OK ||
		    curl_easy_setopt(s->curl, CURLOPT_OPENSOCKETDATA, &g) != CURLE_OK ||
		    curl_easy_setopt(s->curl, CURLOPT_PREREQFUNCTION,
				     on_connected) != CURLE_OK ||
		    curl_easy_setopt(s->curl, CURLOPT_PREREQDATA, &g) != CURLE_OK)
			return err_set(e, ERR_INTERNAL,
				       "this libcurl cannot guard source URLs");
	}

	rc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc == CURLE_OK && code == 200)
		return 0;
	buf_release(out);
	if (k.over || rc == CURLE_FILESIZE_EXCEEDED)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original is over the limit of %zu bytes",
			       o->max_bytes);
	if (k.oom)
		return err_set(e, ERR_INTERNAL, "out of memory fetching original");
	if (g.refused[0] != '\0')
		return err_set(e, ERR_FORBIDDEN, "%s", g.refused);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return err_set(e, ERR_TIMEOUT, "source timed out: %s",
			       curl_err[0] ? curl_err : curl_easy_strerror(rc));
	if (rc != CURLE_OK)
		return err_set(e, ERR_SOURCE, "source failed: %s",
			       curl_err[0] ? curl_err : curl_easy_strerror(rc));
	if (code == 404 || code == 410)
		return err_set(e, ERR_NOT_FOUND, "original not found at the source "
			       "(HTTP %ld)", code);
	return err_set(e, ERR_SOURCE, "source answered HTTP %ld", code);
}

int source_fetch(struct source *s, const struct source_opts *o,
		 const char *model, const char *field, const char *id,
		 struct buf *out, struct err *e)
{
	char url[2048];

	if (o->tmpl == NULL || o->tmpl[0] == '\0')
		return err_set(e, ERR_NOT_FOUND,
			       "original not in the store and no -source is set");
	if (source_expand(o->tmpl, model, field, id, url, sizeof(url), e) < 0)
		return -1;
	if (strncmp(url, "file://", 7) == 0) {
		if (store_read(url + 7, o->max_bytes, out, e) < 0) {
			buf_release(out);
			if (e != NULL && e->code == ERR_NOT_FOUND)
				err_set(e, ERR_NOT_FOUND,
					"original not found at the source");
			return -1;
		}
		return 0;
	}
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		return fetch_http(s, o, url, out, e);
	return err_set(e, ERR_INTERNAL, "source scheme not supported: %s", url);
}

int source_fetch_url(struct source *s, const struct source_opts *o,
		     const char *url, struct buf *out, struct err *e)
{
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return err_set(e, ERR_FORBIDDEN,
			       "source URLs must be http:// or https://");
	return fetch_http(s, o, url, out, e);
}
