/* post.c - POST: keep an original, queue its outputs. */
#include "post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "queue.h"
#include "registry.h"
#include "store.h"

#define MAX_OUTPUTS 32

struct post {
	char model[URL_NAME_MAX + 1], field[URL_NAME_MAX + 1], id[URL_ID_MAX + 1];
	char source[2048];
	char outputs[1024];
	int force;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..len) into out (and '+' to ' '); -1 if malformed. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || n + 1 >= size)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

static int parse_query(const char *q, struct post *p, struct err *e)
{
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		char key[32], *value;
		size_t vsize;

		eq = memchr(q, '=', len);
		if (eq == NULL || (size_t)(eq - q) >= sizeof(key))
			return err_set(e, ERR_BAD_REQUEST,
				       "query: expected key=value pairs");
		memcpy(key, q, (size_t)(eq - q));
		key[eq - q] = '\0';
		if (strcmp(key, "outputs") == 0)
			value = p->outputs, vsize = sizeof(p->outputs);
		else if (strcmp(key, "source") == 0)
			value = p->source, vsize = sizeof(p->source);
		else if (strcmp(key, "force") == 0)
			value = key, vsize = sizeof(key);
		else
			return err_set(e, ERR_BAD_REQUEST,
				       "query: unknown parameter '%s' (outputs, "
				       "source, force)", key);
		if (decode(eq + 1, len - (size_t)(eq + 1 - q), value, vsize) < 0)
			return err_set(e, ERR_BAD_REQUEST, "query: bad value for %s",
				       value == key ? "force" : key);
		if (value == key) {
			if (strcmp(key, "1") != 0 && strcmp(key, "0") != 0)
				return err_set(e, ERR_BAD_REQUEST, "force must be 0 or 1");
			p->force = key[0] == '1';
		}
		q += len + (amp ? 1 : 0);
	}
	return 0;
}

/* "/model/field/id" into p. */
static int parse_path(const char *path, struct post *p, struct err *e)
{
	char copy[256], *save = NULL, *parts[4];
	int n = 0;

	if (strlen(path) >= sizeof(copy) || path[0] != '/')
		return err_set(e, ERR_BAD_REQUEST, "POST /{model}/{field}/{id}");
	snprintf(copy, sizeof(copy), "%s", path + 1);
	if (copy[0] == '\0' || copy[strlen(copy) - 1] == '/' || strstr(copy, "//"))
		return err_set(e, ERR_BAD_REQUEST, "POST /{model}/{field}/{id}");
	for (char *t = strtok_r(copy, "/", &save); t && n < 4;
	     t = strtok_r(NULL, "/", &save))
		parts[n++] = t;
	if (n != 3 || url_valid_name(parts[0]) < 0 ||
	    url_valid_name(parts[1]) < 0 || url_valid_id(parts[2]) < 0)
		return err_set(e, ERR_BAD_REQUEST,
			       "POST /{model}/{field}/{id} with model and field "
			       "[a-z0-9_]{1,32}, id [0-9A-Za-z_-]{1,64}");
	snprintf(p->model, sizeof(p->model), "%s", parts[0]);
	snprintf(p->field, sizeof(p->field), "%s", parts[1]);
	snprintf(p->id, sizeof(p->id), "%s", parts[2]);
	return 0;
}

/* Checks every entry of the outputs list; fills files[]. */
static int parse_outputs(const struct handler *h, const struct conf *c,
			 const char *list, char files[][URL_FILE_MAX + 1],
			 int *count, struct err *e)
{
	char copy[1024], *save = NULL;

	*count = 0;
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		struct url_request r;
		struct err one;

		int dup = 0;

		for (int i = 0; i < *count; i++)
			dup |= strcmp(files[i], t) == 0;
		if (dup)
			continue; /* one job per output */
		if (*count == MAX_OUTPUTS)
			return err_set(e, ERR_BAD_REQUEST,
				       "outputs: at most %d entries", MAX_OUTPUTS);
		if (url_parse_file(t, &r, &one) < 0 ||
		    handler_check_allowed(h->server, c, &r, &one) < 0)
			return err_set(e, one.code == ERR_FORMAT ? ERR_BAD_REQUEST
								 : one.code,
				       "outputs: bad entry '%s': %s", t, one.msg);
		snprintf(files[(*count)++], URL_FILE_MAX + 1, "%s", t);
	}
	return 0;
}

/* Reads the request body (at most max bytes) into out. */
static int read_body(FCGX_Request *req, size_t max, struct buf *out,
		     struct err *e)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
	long long want = cl ? atoll(cl) : 0;
	char chunk[65536];
	int n;

	if (want <= 0)
		return err_set(e, ERR_BAD_REQUEST, "empty request body");
	if ((unsigned long long)want > max)
		return err_set(e, ERR_UNPROCESSABLE,
			       "original is %lld bytes, over the limit of %zu",
			       want, max);
	while ((n = FCGX_GetStr(chunk, sizeof(chunk), req->in)) > 0) {
		if (out->len + (size_t)n > max)
			return err_set(e, ERR_UNPROCESSABLE,
				       "original is over the limit of %zu bytes", max);
		if (buf_append(out, chunk, (size_t)n) < 0)
			return err_set(e, ERR_INTERNAL, "out of memory");
	}
	if ((long long)out->len != want)
		return err_set(e, ERR_BAD_REQUEST,
			       "request body ended after %zu of %lld bytes",
			       out->len, want);
	return 0;
}

static const char *format_name(enum sniff_format f)
{
	switch (f) {
	case SNIFF_JPEG: return "jpeg";
	case SNIFF_PNG: return "png";
	case SNIFF_GIF: return "gif";
	case SNIFF_WEBP: return "webp";
	case SNIFF_UNKNOWN: break;
	}
	return "unknown";
}

int post_serve(struct handler *h, FCGX_Request *req, const char *path,
	       const struct conf *c, struct err *e)
{
	const char *ctype = FCGX_GetParam("CONTENT_TYPE", req->envp);
	const char *query = FCGX_GetParam("QUERY_STRING", req->envp);
	char files[MAX_OUTPUTS][URL_FILE_MAX + 1], image[256], json[4096];
	char name[2048], fpath[4096];
	struct output_original_info info;
	struct registry_conn *redis = output_worker_redis(h->worker);
	struct post p = { 0 };
	struct buf orig;
	int nfiles = 0, status = -1, n;
	size_t at;

	buf_init(&orig);
	if (parse_path(path, &p, e) < 0 || parse_query(query ? query : "", &p, e) < 0 ||
	    parse_outputs(h, c, p.outputs, files, &nfiles, e) < 0)
		goto out;
	snprintf(image, sizeof(image), "%s/%s/%s", p.model, p.field, p.id);

	/* The original: the body, the source URL, or the one stored. */
	if (ctype != NULL && strncmp(ctype, "image/", 6) == 0) {
		if (p.source[0] != '\0') {
			err_set(e, ERR_BAD_REQUEST, "give source= or a body, not both");
			goto out;
		}
		if (read_body(req, (size_t)c->max_source_bytes, &orig, e) < 0)
			goto out;
	} else if (p.source[0] != '\0') {
		if (output_fetch_url(h->worker, p.source, &orig, e) < 0)
			goto out;
	} else if (output_original(h->worker, p.model, p.field, p.id, &orig, e) < 0) {
		if (e->code == ERR_NOT_FOUND)
			err_set(e, ERR_BAD_REQUEST,
				"no original for %s: give source=URL or a body "
				"with Content-Type image/*", image);
		goto out;
	}
	if (output_put_original(h->worker, p.model, p.field, p.id, orig.data,
				orig.len, &info, e) < 0)
		goto out;

	n = snprintf(json, sizeof(json),
		     "{\"id\":\"%s\",\"width\":%u,\"height\":%u,\"format\":\"%s\","
		     "\"bytes\":%zu,\"sha256\":\"%s\",\"queued\":[",
		     image, info.width, info.height, format_name(info.sniff.format),
		     orig.len, info.sha256);
	at = (size_t)n;
	for (int i = 0, first = 1; i < nfiles; i++) {
		if (store_path(c->store, p.model, p.field, p.id, files[i], fpath,
			       sizeof(fpath), e) < 0)
			goto out;
		if (!p.force && store_exists(fpath))
			continue; /* made already */
		snprintf(name, sizeof(name), "%s/%s", image, files[i]);
		switch (queue_push(redis, name, p.force, (long)c->queue_max)) {
		case REGISTRY_OK:
			break;
		case REGISTRY_BUSY:
			err_set(e, ERR_BUSY, "the queue is full (%lld jobs); the "
				"original was stored", (long long)c->queue_max);
			goto out;
		case REGISTRY_DOWN:
			err_set(e, ERR_BUSY, "the queue is unavailable (Redis); the "
				"original was stored, its outputs are made on request");
			goto out;
		}
		at += (size_t)snprintf(json + at, sizeof(json) - at, "%s\"%s\"",
				       first ? "" : ",", files[i]);
		first = 0;
	}
	snprintf(json + at, sizeof(json) - at, "]}\n");
	status = info.existed ? 200 : 201;
	handler_put_headers(req,
			    "Status: %d %s\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: %zu\r\n"
			    "Cache-Control: no-store\r\n\r\n",
			    status, info.existed ? "OK" : "Created", strlen(json));
	FCGX_PutS(json, req->out);
	log_info("POST %s %d %zu bytes, %d output(s) asked", image, status,
		 orig.len, nfiles);
out:
	buf_release(&orig);
	return status;
}
