/* output.c - store hit, or original -> image_make -> store. */
#include "output.h"

#include <stdlib.h>

#include "image.h"
#include "log.h"
#include "source.h"
#include "store.h"

struct output_worker {
	const struct conf *conf;
	struct source *source;
	struct image_limits limits;
};

struct output_worker *output_worker_new(const struct conf *c)
{
	struct output_worker *w = calloc(1, sizeof(*w));
	struct source_opts so = {
		.tmpl = c->source,
		.connect_timeout_ms = c->connect_timeout * 1000L,
		.timeout_ms = c->source_timeout * 1000L,
		.max_bytes = (size_t)c->max_source_bytes,
		.max_redirects = c->max_redirects,
	};

	if (w == NULL)
		return NULL;
	w->conf = c;
	w->limits.max_pixels = (uint64_t)c->max_pixels;
	w->limits.max_side = (unsigned)c->max_side;
	w->limits.max_bytes = (size_t)c->max_source_bytes;
	w->source = source_new(&so);
	if (w->source == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void output_worker_free(struct output_worker *w)
{
	if (w == NULL)
		return;
	source_free(w->source);
	free(w);
}

int output_original(struct output_worker *w, const char *model,
		    const char *field, const char *id, struct buf *out,
		    struct err *e)
{
	struct sniff_info si;
	char path[4096];

	if (store_path(w->conf->store, model, field, id, STORE_ORIGINAL, path,
		       sizeof(path), e) < 0)
		return -1;
	if (store_read(path, w->limits.max_bytes, out, e) == 0)
		return 0;
	if (e != NULL && e->code != ERR_NOT_FOUND)
		return -1;
	buf_release(out);
	if (source_fetch(w->source, model, field, id, out, e) < 0)
		return -1;
	/* Only an image that passes the checks is kept: a bad one would be
	 * refused again on every request anyway. */
	if (image_check_original(out->data, out->len, &w->limits, &si, e) < 0 ||
	    store_write_atomic(path, out->data, out->len, e) < 0) {
		buf_release(out);
		return -1;
	}
	log_debug("original %s/%s/%s stored (%zu bytes)", model, field, id,
		  out->len);
	return 0;
}

int output_get(struct output_worker *w, const struct url_request *r,
	       struct buf *out, enum output_how *how, struct err *e)
{
	const struct conf *c = w->conf;
	struct image_opts io = {
		.quality = (unsigned)c->default_quality,
		.allow_upscale = c->allow_upscale,
		.background = c->background,
		.limits = w->limits,
	};
	struct buf orig;
	char path[4096];
	int rc = -1;

	if (store_path(c->store, r->model, r->field, r->id, r->file, path,
		       sizeof(path), e) < 0)
		return -1;
	/* The web server missed it, but another request may have made it since. */
	if (store_read(path, SIZE_MAX - 1, out, e) == 0) {
		*how = OUTPUT_STORE;
		return 0;
	}
	if (e != NULL && e->code != ERR_NOT_FOUND)
		return -1;
	buf_release(out);

	buf_init(&orig);
	if (output_original(w, r->model, r->field, r->id, &orig, e) < 0)
		goto out;
	if (image_make(orig.data, orig.len, r, &io, out, e) < 0 ||
	    store_write_atomic(path, out->data, out->len, e) < 0) {
		buf_release(out);
		goto out;
	}
	*how = OUTPUT_MADE;
	rc = 0;
out:
	buf_release(&orig);
	return rc;
}
