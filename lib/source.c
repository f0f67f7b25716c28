/* source.c - originals from file:// or http(s):// via libcurl. */
#include "source.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct source {
	CURL *curl; /* kept between fetches for connection reuse */
};

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

struct sink {
	struct buf *out;
	size_t max;
	int over;   /* the body passed max */
	int oom;
	CURL *curl;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
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

static int fetch_http(struct source *s, const struct source_opts *o,
		      const char *url, struct buf *out, struct err *e)
{
	struct sink k = { out, o->max_bytes, 0, 0, NULL };
	char curl_err[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	long code = 0;

	if (s->curl == NULL && (s->curl = curl_easy_init()) == NULL)
		return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
	curl_easy_reset(s->curl);
	k.curl = s->curl;
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->curl, CURLOPT_MAXREDIRS, o->max_redirects);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 o->connect_timeout_ms);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	/* No signals from libcurl in a threaded process (DNS timeouts). */
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	/* Refuse early when Content-Length already says too big. */
	curl_easy_setopt(s->curl, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)o->max_bytes);
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "image-server");
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &k);

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
