/* post.c - the writes: POST keeps an original and queues its outputs,
 * DELETE purges an image. */
#include "post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jobs.h"
#include "log.h"
#include "policy.h"
#include "purge.h"
#include "respond.h"

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

/* The original the POST gives: its body, its source=, or the one stored. */
static int get_original(struct output_worker *w, FCGX_Request *req,
			const struct policy_post *p, const struct conf *c,
			struct buf *orig, struct err *e)
{
	const char *ctype = FCGX_GetParam("CONTENT_TYPE", req->envp);

	if (ctype != NULL && strncmp(ctype, "image/", 6) == 0) {
		if (p->source[0] != '\0')
			return err_set(e, ERR_BAD_REQUEST,
				       "give source= or a body, not both");
		return read_body(req, (size_t)c->max_source_bytes, orig, e);
	}
	if (p->source[0] != '\0')
		return output_fetch_url(w, p->source, orig, e);
	if (p->replace)
		return err_set(e, ERR_BAD_REQUEST,
			       "replace=1 needs the new original: give source=URL "
			       "or a body with Content-Type image/*");
	if (output_original(w, p->model, p->field, p->id, orig, e) == 0)
		return 0;
	if (e->code == ERR_NOT_FOUND)
		err_set(e, ERR_BAD_REQUEST,
			"no original for %s/%s/%s: give source=URL or a body "
			"with Content-Type image/*", p->model, p->field, p->id);
	return -1;
}

/* Appends to json at *at the list "name":[...] of the outputs whose
 * queued[] is which. */
static void list_outputs(char *json, size_t size, size_t *at,
			 const char *name, const struct policy_post *p,
			 const int *queued, int which)
{
	int first = 1;

	*at += (size_t)snprintf(json + *at, size - *at, ",\"%s\":[", name);
	for (int i = 0; i < p->noutputs && *at < size; i++) {
		if (queued[i] != which)
			continue;
		*at += (size_t)snprintf(json + *at, size - *at, "%s\"%s\"",
					first ? "" : ",", p->outputs[i]);
		first = 0;
	}
	if (*at < size)
		*at += (size_t)snprintf(json + *at, size - *at, "]");
}

/* Writes the 201/200 answer: the original's facts, the jobs queued now
 * and those that were pending already (jobs_submit()'s queued[]). */
static void answer(FCGX_Request *req, const struct policy_post *p,
		   const struct output_original_info *info, size_t bytes,
		   const int *queued)
{
	char json[4096];
	int n, status = info->existed ? 200 : 201;
	size_t at;

	n = snprintf(json, sizeof(json),
		     "{\"id\":\"%s/%s/%s\",\"width\":%u,\"height\":%u,"
		     "\"format\":\"%s\",\"bytes\":%zu,\"sha256\":\"%s\"",
		     p->model, p->field, p->id, info->width, info->height,
		     format_name(info->sniff.format), bytes, info->sha256);
	at = (size_t)n;
	list_outputs(json, sizeof(json), &at, "queued", p, queued, 1);
	list_outputs(json, sizeof(json), &at, "pending", p, queued, 2);
	if (at < sizeof(json))
		snprintf(json + at, sizeof(json) - at, "}\n");
	respond_page(req, status, "application/json", json, strlen(json), 0);
}

int post_serve(struct output_worker *w, unsigned formats_available,
	       FCGX_Request *req, const char *path, const struct conf *c,
	       struct err *e)
{
	const char *query = FCGX_GetParam("QUERY_STRING", req->envp);
	const char *files[POLICY_MAX_OUTPUTS];
	int queued[POLICY_MAX_OUTPUTS];
	struct output_original_info info;
	struct policy_post p;
	struct buf orig;
	int status = -1;

	buf_init(&orig);
	if (policy_parse_post(c, formats_available, path, query, &p, e) < 0 ||
	    get_original(w, req, &p, c, &orig, e) < 0)
		goto out;
	if (p.replace) {
		struct purge_result res;

		if (output_check_original(w, orig.data, orig.len, &info, e) < 0 ||
		    purge_replace(w, p.model, p.field, p.id, orig.data, orig.len,
				  &res, e) < 0)
			goto out;
		log_info("POST %s/%s/%s replaced the original: %ld output(s) "
			 "removed, %ld job(s) dropped", p.model, p.field, p.id,
			 res.removed, res.dropped);
	} else if (output_put_original(w, p.model, p.field, p.id, orig.data,
				       orig.len, &info, e) < 0) {
		goto out;
	}
	for (int i = 0; i < p.noutputs; i++)
		files[i] = p.outputs[i];
	if (jobs_submit(w, p.model, p.field, p.id, files, p.noutputs, p.force,
			queued, e) < 0)
		goto out;
	answer(req, &p, &info, orig.len, queued);
	status = info.existed ? 200 : 201;
	log_info("POST %s/%s/%s %d %zu bytes, %d output(s) asked", p.model,
		 p.field, p.id, status, orig.len, p.noutputs);
out:
	buf_release(&orig);
	return status;
}

int delete_serve(struct output_worker *w, FCGX_Request *req, const char *path,
		 struct err *e)
{
	const char *query = FCGX_GetParam("QUERY_STRING", req->envp);
	struct purge_result res;
	struct policy_post p;
	struct url_request r;
	struct err ignored;

	if (url_parse(path, &r, &ignored) == 0)
		return err_set(e, ERR_METHOD, "method DELETE is not allowed on "
			       "one output: DELETE /{model}/{field}/{id} purges "
			       "the image and all its outputs");
	if (policy_parse_delete(path, query, &p, e) < 0 ||
	    purge_image(w, p.model, p.field, p.id, &res, e) < 0)
		return -1;
	if (!res.found)
		return err_set(e, ERR_NOT_FOUND, "nothing is stored for %s/%s/%s",
			       p.model, p.field, p.id);
	respond_headers(req, "Status: 204 No Content\r\n"
			     "Cache-Control: no-store\r\n\r\n");
	log_info("DELETE %s 204: %ld output(s) removed, %ld job(s) dropped",
		 path, res.removed, res.dropped);
	return 204;
}
